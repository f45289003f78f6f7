"""jg.fit_ml: nuisance parameters by maximum likelihood vs statsmodels and closed forms."""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.base.model import GenericLikelihoodModel

import jaxglm as jg
from jaxglm.status import Status

N = 300


@pytest.fixture(scope="module")
def design():
    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
    return X, X @ np.array([0.7, 0.4, -0.3]), rng


def test_negative_binomial_alpha_matches_statsmodels_nb2(design):
    X, eta, rng = design
    mu, alpha = np.exp(eta), 0.6
    y = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu)).astype(float)
    res = jg.fit_ml(X, y, jg.NegativeBinomial(alpha=1.0))
    ref = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(method="newton", tol=1e-12, maxiter=100, disp=0)
    assert int(res.status) == Status.CONVERGED
    np.testing.assert_allclose(res.params["alpha"], ref.params[-1], rtol=1e-5)
    np.testing.assert_allclose(res.std_err["alpha"], ref.bse[-1], rtol=1e-5)
    np.testing.assert_allclose(res.params["coef"], ref.params[:-1], rtol=1e-5)
    np.testing.assert_allclose(res.std_err["coef"], ref.bse[:-1], rtol=1e-5)
    np.testing.assert_allclose(res.loglik, ref.llf, rtol=1e-10)
    # The flattened order is ravel_pytree's (sorted keys): alpha, then coef.
    order = [3, 0, 1, 2]
    np.testing.assert_allclose(res.cov, ref.cov_params()[np.ix_(order, order)], rtol=1e-5, atol=1e-10)


class GammaModel(GenericLikelihoodModel):
    """Gamma regression with log link in (beta, shape), density from scipy."""

    def loglike(self, params):
        beta, shape = params[:-1], params[-1]
        mean = np.exp(self.exog @ beta)
        return np.sum(stats.gamma.logpdf(self.endog, shape, scale=mean / shape))


def test_gamma_shape_matches_generic_likelihood_model(design):
    X, eta, rng = design
    shape = 2.5
    y = rng.gamma(shape, np.exp(eta) / shape)
    res = jg.fit_ml(X, y, jg.Gamma(link="log"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GammaModel(y, X)
        glm = sm.GLM(y, X, family=sm.families.Gamma(sm.families.links.Log())).fit()
        ref = model.fit(start_params=np.r_[glm.params, 1 / glm.scale], method="bfgs", gtol=1e-10,
                        maxiter=2000, disp=0)
    assert int(res.status) == Status.CONVERGED
    np.testing.assert_allclose(res.params["shape"], ref.params[-1], rtol=1e-6)
    np.testing.assert_allclose(res.params["coef"], ref.params[:-1], rtol=1e-6)
    # statsmodels' Hessian is numerical (finite differences): a looser tolerance.
    np.testing.assert_allclose(res.std_err["shape"], ref.bse[-1], rtol=1e-4)
    np.testing.assert_allclose(res.std_err["coef"], ref.bse[:-1], rtol=1e-4)
    np.testing.assert_allclose(res.loglik, ref.llf, rtol=1e-10)


def test_gaussian_sigma_closed_form(design):
    X, eta, rng = design
    y = eta + 0.8 * rng.normal(size=N)
    weights = rng.integers(1, 4, size=N).astype(float)
    res = jg.fit_ml(X, y, jg.Gaussian(), weights=weights)
    W = weights[:, None]
    b = np.linalg.solve(X.T @ (W * X), X.T @ (weights * y))
    sigma = np.sqrt(np.sum(weights * (y - X @ b) ** 2) / N)
    assert int(res.status) == Status.CONVERGED
    np.testing.assert_allclose(res.params["coef"], b, rtol=1e-10)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-10)
    # Information for sigma: 2 n / sigma^2 (orthogonal to beta); for beta: X^T W X / sigma^2.
    np.testing.assert_allclose(res.std_err["sigma"], sigma / np.sqrt(2 * N), rtol=1e-8)
    np.testing.assert_allclose(res.std_err["coef"], sigma * np.sqrt(np.diag(np.linalg.inv(X.T @ (W * X)))),
                               rtol=1e-8)


def test_families_without_a_nuisance_parameter_are_rejected(design):
    X, eta, _ = design
    with pytest.raises(ValueError, match="Poisson"):
        jg.fit_ml(X, np.ones(N), jg.Poisson())
