"""Newton (observed information) and IRLS (expected information) against theory.

On the simulated data of ``test_reference_simulated`` (n = 200, weights and offset), with a
negative log-likelihood, inverse links and variance functions written out here by hand
(independent of ``jaxglm.families`` / ``jaxglm.links``):

* Newton and IRLS reach the same coefficients                                   rtol 1e-7
* IRLS cov == scale * inv(X^T W X), W = w (dmu/deta)^2 / V(mu)                   rtol 1e-6
* Newton cov == scale * inv(jax.hessian(hand-written nll)(coef))                 rtol 1e-6
* canonical link: the two covariances coincide                                   rtol 1e-8;
  non-canonical: they differ (> 1e-4 relative), so the checks above can fail
* optimality: X^T score - l2 * coef == 0 at the estimate, with the score written
  by hand and, separately, jax.grad of the hand-written penalised objective
  nll + l2 / 2 * sum(coef^2) (objective deviance + sum(l2 coef^2) in deviance units);
  l2 = 0, scalar l2 = 5, per-coefficient l2 = (0, 3, 10) (intercept unpenalised)
  |gradient_j| <= 1e-6 * sum_i |X_ij score_i|
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.stats import norm

import jaxglm as jg
from test_reference_simulated import DEFAULT_RUN, TOL, X, fitted

INVERSE_LINK = {
    "identity": lambda eta: eta,
    "log": jnp.exp,
    "logit": lambda eta: 1.0 / (1.0 + jnp.exp(-eta)),
    "probit": norm.cdf,
    "cloglog": lambda eta: 1.0 - jnp.exp(-jnp.exp(eta)),
    "inverse": lambda eta: 1.0 / eta,
    "inverse_squared": lambda eta: eta**-0.5,
    "sqrt": lambda eta: eta**2,
}


def unit_nll(family):
    """-log-likelihood per observation at phi = 1, terms free of mu dropped."""
    if isinstance(family, jg.Gaussian):
        return lambda y, mu: 0.5 * (y - mu) ** 2, lambda mu: jnp.ones_like(mu)
    if isinstance(family, jg.Binomial):
        return lambda y, mu: -(y * jnp.log(mu) + (1 - y) * jnp.log1p(-mu)), lambda mu: mu * (1 - mu)
    if isinstance(family, jg.Poisson):
        return lambda y, mu: mu - y * jnp.log(mu), lambda mu: mu
    if isinstance(family, jg.Gamma):
        return lambda y, mu: y / mu + jnp.log(mu), lambda mu: mu**2
    if isinstance(family, jg.InverseGaussian):
        return lambda y, mu: (y - mu) ** 2 / (2 * y * mu**2), lambda mu: mu**3
    if isinstance(family, jg.NegativeBinomial):
        a = float(family.alpha)
        return (lambda y, mu: (y + 1 / a) * jnp.log1p(a * mu) - y * jnp.log(mu)), lambda mu: mu + a * mu**2
    raise NotImplementedError(type(family))


def hand_model(family, y, w, offset):
    """(nll(beta), mu(beta), dmu/deta(beta), V) written independently of jaxglm."""
    inv = INVERSE_LINK[family.link.name]
    per_obs, variance = unit_nll(family)
    eta = lambda beta: jnp.asarray(X) @ beta + offset
    nll = lambda beta: jnp.sum(w * per_obs(y, inv(eta(beta))))
    dmu = lambda beta: jax.grad(lambda e: jnp.sum(inv(e)))(eta(beta))
    return nll, lambda beta: inv(eta(beta)), dmu, variance


NEWTON_CASES = [
    pytest.param((jg.Gamma, "log"), False, id="Gamma-log"),
    pytest.param((jg.Binomial, "probit"), False, id="Binomial-probit", marks=pytest.mark.slow),
    pytest.param((jg.Poisson, "log"), True, id="Poisson-log"),
    pytest.param((jg.Poisson, "identity"), False, id="Poisson-identity", marks=pytest.mark.slow),
    pytest.param((jg.NegativeBinomial, "log"), False, id="NegativeBinomial-log", marks=pytest.mark.slow),
    pytest.param((jg.Binomial, "logit"), True, id="Binomial-logit", marks=pytest.mark.slow),
    pytest.param((jg.Gamma, "inverse"), True, id="Gamma-inverse", marks=pytest.mark.slow),
]
_NEWTON = {}


def newton_and_irls(case):
    family, y, w, offset, irls, _ = fitted(case)
    if case not in _NEWTON:
        _NEWTON[case] = jg.fit(X, y, family, weights=w, offset=offset, tol=TOL, solver="newton")
    return family, y, w, offset, irls, _NEWTON[case]


@pytest.mark.parametrize("case,canonical", NEWTON_CASES)
def test_newton_and_irls_same_coefficients(case, canonical):
    _, _, _, _, irls, newton = newton_and_irls(case)
    assert int(newton.status) == 0 and int(irls.status) == 0
    np.testing.assert_allclose(newton.coef, irls.coef, rtol=1e-7)
    for field in ("deviance", "null_deviance", "pearson_chi2", "scale", "loglik"):
        np.testing.assert_allclose(getattr(newton, field), getattr(irls, field), rtol=1e-9)


@pytest.mark.parametrize("case,canonical", NEWTON_CASES)
def test_covariances_are_what_theory_says(case, canonical):
    family, y, w, offset, irls, newton = newton_and_irls(case)
    nll, mean, dmu, variance = hand_model(family, y, w, offset)
    Xj = jnp.asarray(X)

    beta = jnp.asarray(irls.coef)
    fisher_weight = w * dmu(beta) ** 2 / variance(mean(beta))
    expected_info = (Xj.T * fisher_weight) @ Xj
    np.testing.assert_allclose(irls.cov, irls.scale * jnp.linalg.inv(expected_info), rtol=1e-6)

    beta = jnp.asarray(newton.coef)
    observed_info = jax.hessian(nll)(beta)
    np.testing.assert_allclose(newton.cov, newton.scale * jnp.linalg.inv(observed_info), rtol=1e-6)

    if canonical:
        np.testing.assert_allclose(newton.cov, irls.cov, rtol=1e-8)
    else:
        rel = np.max(np.abs(np.asarray(newton.cov) - np.asarray(irls.cov)) / np.abs(np.asarray(irls.cov)))
        assert rel > 1e-4


def assert_stationary(family, y, w, offset, res, l2):
    """X^T score - l2 coef == 0 (hand-written score), and jax.grad of the penalised nll == 0."""
    nll, mean, dmu, variance = hand_model(family, y, w, offset)
    beta = jnp.asarray(res.coef)
    mu = mean(beta)
    score = w * (y - mu) / variance(mu) * dmu(beta)
    scale_of_terms = np.sum(np.abs(X * np.asarray(score)[:, None]), axis=0)
    gradient = X.T @ np.asarray(score) - l2 * np.asarray(beta)
    assert np.all(np.abs(gradient) <= 1e-6 * scale_of_terms), gradient / scale_of_terms
    penalised = lambda b: nll(b) + 0.5 * jnp.sum(l2 * b**2)
    assert np.all(np.abs(np.asarray(jax.grad(penalised)(beta))) <= 1e-6 * scale_of_terms)
    return gradient, scale_of_terms


GRADIENT_CASES = [pytest.param(c, id="-".join((c[0].__name__, c[1])),
                               marks=() if c in DEFAULT_RUN else (pytest.mark.slow,))
                  for c in [(jg.Gamma, "log"), (jg.Poisson, "log"), (jg.NegativeBinomial, "log"), (jg.Binomial, "probit"),
                            (jg.InverseGaussian, "inverse_squared"), (jg.Gaussian, "identity"),
                            (jg.Gaussian, "log"), (jg.InverseGaussian, "log")]]


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_gradient_zero_at_optimum(case):
    family, y, w, offset, res, _ = fitted(case)
    assert_stationary(family, y, w, offset, res, np.zeros(3))


@pytest.mark.parametrize("case", GRADIENT_CASES[:3])
@pytest.mark.parametrize("l2", [5.0, np.array([0.0, 3.0, 10.0])], ids=["scalar", "per-coef"])
def test_gradient_zero_with_l2(case, l2):
    """The penalised fit satisfies X^T score = l2 * coef (same compile as l2 = 0: l2 is traced)."""
    family, y, w, offset, unpenalised, _ = fitted(case)
    res = jg.fit(X, y, family, weights=w, offset=offset, tol=TOL, l2=l2)
    assert int(res.status) == 0
    l2_vec = np.broadcast_to(l2, (3,))
    assert_stationary(family, y, w, offset, res, l2_vec)
    # the penalty did something: the unpenalised optimality condition fails at this estimate
    nll, mean, dmu, variance = hand_model(family, y, w, offset)
    beta = jnp.asarray(res.coef)
    score = w * (y - mean(beta)) / variance(mean(beta)) * dmu(beta)
    unpenalised_gradient = X.T @ np.asarray(score)
    assert np.max(np.abs(unpenalised_gradient)) > 1e-3
    assert np.sum(l2_vec * np.asarray(res.coef) ** 2) < np.sum(l2_vec * np.asarray(unpenalised.coef) ** 2)


def test_newton_with_l2_matches_irls():
    case = (jg.Gamma, "log")
    family, y, w, offset, _, _ = newton_and_irls(case)
    l2 = np.array([0.0, 3.0, 10.0])
    a = jg.fit(X, y, family, weights=w, offset=offset, tol=TOL, l2=l2)
    b = jg.fit(X, y, family, weights=w, offset=offset, tol=TOL, l2=l2, solver="newton")
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-7)
    assert_stationary(family, y, w, offset, b, l2)
