"""Invariants of every registered family (``jaxglm.families.FAMILIES``), so a new one is tested too.

Checks (float64), each against a quantity computed independently of the code under test:
* variance from the log-likelihood: w / (d2 loglik / dmu dy) == variance(mu) at phi=1    rtol 1e-10
* score: d loglik / dmu == w (y - mu) / (phi V(mu))                                    rtol 1e-10
* loglik_kernel (what the solvers differentiate): the same score, and loglik minus it is
  free of mu (equal at two sets of means)                                              rtol 1e-12
* deviance: 2 phi (loglik(y; y) - loglik(y; mu)) == w unit_deviance(y, mu)             rtol 1e-9
* per-observation loglik == scipy.stats density (norm, binom, poisson, gamma, invgauss,
  nbinom), times the prior weight where R multiplies by it                             rtol 1e-10
* init_mu (R's mustart) is a valid mean and has a finite linear predictor for each usual link
* ``jaxglm.inference`` IRLS expected weights and Newton observed weights (and the score)
  against finite differences of the log-likelihood in eta, for each family x usual link rtol 1e-5
* for canonical links the observed and expected weights coincide                       rtol 1e-10
* unit_deviance_eta(y, eta) == unit_deviance(y, link.inverse(eta)), each family x usual link,
  including the Binomial logit shortcut (one log)                                     rtol 1e-10
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxglm as jg
from jaxglm import families, inference, links

# Extra parameter values beyond the registry defaults.
EXTRA = {"negative_binomial": [{"alpha": 0.3}, {"alpha": 2.5}], "tweedie": [{"power": 1.2}, {"power": 1.8}]}


def family_cases():
    cases = []
    for name, cls in families.FAMILIES.items():
        cases.append(pytest.param(cls(), id=name))
        for kw in EXTRA.get(name, []):
            cases.append(pytest.param(cls(**kw), id=f"{name}-{'-'.join(f'{k}{v}' for k, v in kw.items())}"))
    return cases


FAMILY_CASES = family_cases()

# The links commonly used with each family (R's families accept these); a family missing
# here is tested with its default link.
USUAL_LINKS = {
    "gaussian": ["identity", "log", "inverse"],
    "binomial": ["logit", "probit", "cloglog", "log"],
    "poisson": ["log", "identity", "sqrt"],
    "gamma": ["inverse", "identity", "log"],
    "inverse_gaussian": ["inverse_squared", "inverse", "identity", "log"],
    "negative_binomial": ["log", "sqrt", "identity"],
    "tweedie": ["log", "identity", "inverse"],
}


def registry_name(family):
    return next(name for name, cls in families.FAMILIES.items() if type(family) is cls)


def family_link_cases():
    cases = []
    for name, cls in families.FAMILIES.items():
        for link in USUAL_LINKS.get(name, [cls().link.name]):
            cases.append(pytest.param(cls(link=link), id=f"{name}-{link}"))
    cases.append(pytest.param(jg.Tweedie(power=1.5, link=links.Power(-0.5)), id="tweedie-power-0.5"))
    return cases


Y_GRID = np.array([0.0, 0.2, 0.5, 0.8, 1.0, 2.0, 3.0, 7.5, -1.3])
MU_GRID = np.array([0.1, 0.35, 0.6, 0.9, 1.7, 4.2, -0.8])


def grid(family, interior=False):
    """All (y, mu) pairs with y in the family's support and mu a valid mean, plus weights."""
    ys = Y_GRID[np.asarray(family.valid_y(jnp.asarray(Y_GRID)))]
    if interior:
        ys = ys[np.asarray(family.valid_mu(jnp.asarray(ys)))]
    mus = MU_GRID[np.asarray(family.valid_mu(jnp.asarray(MU_GRID)))]
    y, mu = (a.ravel() for a in np.meshgrid(ys, mus))
    assert y.size >= 4
    return fixed_size(y, mu, np.linspace(0.5, 3.0, y.size))


GRID_SIZE = 48


def fixed_size(*arrays):
    """Tile to GRID_SIZE points: one shape for every family, so eager JAX compiles each op once."""
    return tuple(jnp.asarray(np.resize(np.asarray(a), GRID_SIZE)) for a in arrays)


def test_registry_is_complete():
    assert {"gaussian", "binomial", "poisson", "gamma", "inverse_gaussian", "negative_binomial",
            "tweedie"} <= set(families.FAMILIES)
    for name, cls in families.FAMILIES.items():
        fam = cls()
        assert fam.link.name == cls.default_link
    assert jg.Gaussian().link.name == "identity" and jg.Binomial().link.name == "logit"
    assert jg.Poisson().link.name == "log" and jg.Gamma().link.name == "inverse"
    assert jg.InverseGaussian().link.name == "inverse_squared"
    assert jg.NegativeBinomial().link.name == "log" and jg.Tweedie().link.name == "log"


def d_dmu(family, y, mu, w, phi):
    """Elementwise d loglik / d mu (the family's loglik is separable, so grad of the sum)."""
    return jax.grad(lambda m: jnp.sum(family.loglik(y, m, w, phi)))(mu)


@pytest.mark.parametrize("family", FAMILY_CASES)
def test_variance_from_loglik(family):
    y, mu, w = grid(family)
    cross = jax.grad(lambda yy: jnp.sum(d_dmu(family, yy, mu, w, 1.0)))(y)
    np.testing.assert_allclose(w / cross, family.variance(mu), rtol=1e-10)


def phi_for(family):
    return 1.0 if family.scale_fixed else 1.7


@pytest.mark.parametrize("family", FAMILY_CASES)
def test_score(family):
    y, mu, w = grid(family)
    phi = phi_for(family)
    score = d_dmu(family, y, mu, w, phi)
    np.testing.assert_allclose(score, w * (y - mu) / (phi * family.variance(mu)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", FAMILY_CASES)
def test_loglik_kernel_differs_from_loglik_by_terms_free_of_mu(family):
    """loglik - loglik_kernel is the same at two sets of means (it depends on y, w, phi only),
    and the kernel's score is the closed form w (y - mu) / (phi V(mu))."""
    y, mu, w = grid(family)
    phi = phi_for(family)
    other = mu * 0.7 if isinstance(family, jg.Binomial) else mu * 1.9
    gap = lambda m: family.loglik(y, m, w, phi) - family.loglik_kernel(y, m, w, phi)
    np.testing.assert_allclose(gap(mu), gap(other), rtol=1e-12, atol=1e-12)
    score = jax.grad(lambda m: jnp.sum(family.loglik_kernel(y, m, w, phi)))(mu)
    np.testing.assert_allclose(score, w * (y - mu) / (phi * family.variance(mu)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", FAMILY_CASES)
def test_deviance_identity(family):
    """2 phi (l(y; y) - l(y; mu)) = w d(y, mu), including y on the boundary (y = 0 counts)."""
    y, mu, w = grid(family)
    phi = phi_for(family)
    saturated = family.loglik(y, y, w, phi)
    finite = np.isfinite(np.asarray(saturated))
    # The saturated log-likelihood must exist wherever y is itself a valid mean; only the
    # quasi-likelihood of Tweedie is undefined at y = 0 (its limit is used by unit_deviance).
    inside = np.asarray(family.valid_mu(y))
    assert finite[inside].all()
    if not finite.all():
        assert not family.has_density and np.all(np.asarray(y)[~finite] == 0)
    lhs = 2 * phi * (saturated - family.loglik(y, mu, w, phi))
    rhs = w * family.unit_deviance(y, mu)
    np.testing.assert_allclose(np.asarray(lhs)[finite], np.asarray(rhs)[finite], rtol=1e-9, atol=1e-12)
    assert np.all(np.asarray(rhs) >= -1e-12) and np.all(np.isfinite(np.asarray(rhs)))


@pytest.mark.parametrize("family", FAMILY_CASES)
def test_loglik_from_deviance(family):
    """``saturated_loglik(y)`` is ``loglik(y, y)`` (Poisson and Binomial compute it by their own
    formula); every family with a density declares ``loglik_from_deviance``, and R's
    log-likelihood computed from the deviance equals the sum of the densities at mu, at the
    scale R uses (the dispersion estimate for Gaussian, Gamma, inverse Gaussian)."""
    y, mu, w = grid(family, interior=not family.has_density)
    phi = phi_for(family)
    np.testing.assert_allclose(family.saturated_loglik(y, w, phi), family.loglik(y, y, w, phi), rtol=1e-12,
                               atol=1e-12)
    if not family.has_density:
        return
    assert family.loglik_from_deviance
    deviance = jnp.sum(w * family.unit_deviance(y, mu))
    nobs = jnp.asarray(float(y.size))
    scale = family.loglik_scale(deviance, w, nobs)
    direct = jnp.sum(family.loglik(y, mu, w, scale))
    np.testing.assert_allclose(inference.r_loglik(family, y, mu, w, deviance, nobs), direct, rtol=1e-11)


def test_user_family_loglik_from_its_density():
    """A user's family (``loglik_from_deviance`` False by default) whose deviance leaves out a
    term free of mu still gets the sum of its densities as its log-likelihood."""
    class Counts(jg.Family):
        scale_fixed = True
        default_link = "log"
        loglik = jg.Poisson.loglik
        variance = jg.Poisson.variance

        def unit_deviance(self, y, mu):
            return 2 * (mu - jax.scipy.special.xlogy(y, mu))  # no saturated term
    family = Counts()
    assert not family.loglik_from_deviance
    y, mu, w = grid(jg.Poisson())
    deviance = jnp.sum(w * family.unit_deviance(y, mu))
    direct = jnp.sum(family.loglik(y, mu, w, 1.0))
    np.testing.assert_allclose(inference.r_loglik(family, y, mu, w, deviance, jnp.asarray(48.0)), direct,
                               rtol=1e-12)


def _scipy_binomial(y, mu, w, phi, family):
    return stats.binom.logpmf(np.round(w * y), w, mu)


def _scipy_negbin(y, mu, w, phi, family):
    a = float(family.alpha)
    return w * stats.nbinom.logpmf(y, 1.0 / a, 1.0 / (1.0 + a * mu))


# R's conventions: the Gaussian prior weight divides the variance; the Binomial weight is the
# number of trials; the other families multiply the log density by the weight.
SCIPY_LOGPDF = {
    jg.Gaussian: lambda y, mu, w, phi, f: stats.norm.logpdf(y, mu, np.sqrt(phi / w)),
    jg.Binomial: _scipy_binomial,
    jg.Poisson: lambda y, mu, w, phi, f: w * stats.poisson.logpmf(y, mu),
    jg.Gamma: lambda y, mu, w, phi, f: w * stats.gamma.logpdf(y, 1.0 / phi, scale=mu * phi),
    jg.InverseGaussian: lambda y, mu, w, phi, f: w * stats.invgauss.logpdf(y, mu * phi, scale=1.0 / phi),
    jg.NegativeBinomial: _scipy_negbin,
}


def density_data(family, rng):
    """Data in the support, with integer counts (and integer trials for Binomial)."""
    n = 40
    mu = rng.uniform(0.15, 0.85, n) if isinstance(family, jg.Binomial) else rng.uniform(0.3, 6.0, n)
    if isinstance(family, jg.Binomial):
        w = rng.integers(1, 15, n).astype(float)
        return rng.binomial(w.astype(int), mu) / w, mu, w
    w = rng.uniform(0.5, 2.5, n)
    if isinstance(family, (jg.Poisson, jg.NegativeBinomial)):
        return rng.poisson(mu).astype(float), mu, w
    if isinstance(family, jg.Gaussian):
        return mu + rng.normal(size=n), mu, w
    return rng.gamma(3.0, mu / 3.0), mu, w


@pytest.mark.parametrize("family", FAMILY_CASES)
def test_loglik_against_scipy_density(family):
    if not family.has_density:
        assert type(family) not in SCIPY_LOGPDF
        pytest.skip("quasi-likelihood: no closed-form density (R reports NA)")
    assert type(family) in SCIPY_LOGPDF, "a family with a density needs a scipy reference here"
    y, mu, w = density_data(family, np.random.default_rng(3))
    phi = phi_for(family) * 0.6
    ours = family.loglik(jnp.asarray(y), jnp.asarray(mu), jnp.asarray(w), 1.0 if family.scale_fixed else phi)
    ref = SCIPY_LOGPDF[type(family)](y, mu, w, 1.0 if family.scale_fixed else phi, family)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", family_link_cases())
def test_init_mu_is_valid(family):
    """Valid for every y in the support; a finite start for the link wherever the link is defined at y.

    (Like R, a Gaussian fit with a log or inverse link needs y inside the link's domain to
    start: R stops with "cannot find valid starting values", jaxglm returns NONFINITE.)
    """
    y = jnp.asarray(Y_GRID[np.asarray(family.valid_y(jnp.asarray(Y_GRID)))])
    in_domain = np.isfinite(np.asarray(family.link.link(y)))
    for w in (jnp.ones_like(y), jnp.linspace(0.5, 12.0, y.size)):
        mu0 = family.init_mu(y, w)
        assert np.all(np.asarray(family.valid_mu(mu0)))
        assert np.all(np.isfinite(np.asarray(family.link.link(mu0)))[in_domain])
    if not isinstance(family, jg.Gaussian):  # counts and proportions start inside the link's domain
        assert np.all(np.isfinite(np.asarray(family.link.link(family.init_mu(y, jnp.ones_like(y))))))


# -- working weights of jaxglm.inference against finite differences in eta ----------------


def eta_grid(family):
    y, mu, w = grid(family)
    eta = family.link.link(mu)
    keep = np.isfinite(np.asarray(eta))
    return fixed_size(np.asarray(y)[keep], np.asarray(eta)[keep], np.asarray(w)[keep])


def fd_eta(fn, eta, order):
    """Five-point central finite difference of an elementwise function of eta (order 1 or 2)."""
    eta = np.asarray(eta)
    h = 1e-3 * np.maximum(np.abs(eta), 0.3)
    f = {k: np.asarray(fn(jnp.asarray(eta + k * h))) for k in (-2, -1, 0, 1, 2)}
    if order == 1:
        return (-f[2] + 8 * f[1] - 8 * f[-1] + f[-2]) / (12 * h)
    return (-f[2] + 16 * f[1] - 30 * f[0] + 16 * f[-1] - f[-2]) / (12 * h**2)


@pytest.mark.parametrize("family", family_link_cases())
def test_observed_weights_and_score_vs_finite_differences(family):
    y, eta, w = eta_grid(family)
    loglik = lambda e: family.loglik(y, family.link.inverse(e), w, 1.0)
    score, observed = inference.score_and_observed(family, y, w, eta)
    np.testing.assert_allclose(score, fd_eta(loglik, eta, 1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(observed, -fd_eta(loglik, eta, 2), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", family_link_cases())
def test_expected_weights_vs_finite_differences(family):
    """E[-d2 l / d eta2]: l is linear in y, so the expectation is the value at y = mu(eta)."""
    y, eta, w = eta_grid(family)
    mu0 = family.link.inverse(eta)
    loglik_at_mean = lambda e: family.loglik(mu0, family.link.inverse(e), w, 1.0)
    score, expected = inference.score_and_expected(family, y, w, eta)
    np.testing.assert_allclose(expected, -fd_eta(loglik_at_mean, eta, 2), rtol=1e-5, atol=1e-5)
    # and the textbook form w (dmu/deta)^2 / V(mu), with dmu/deta by finite differences
    dmu = fd_eta(family.link.inverse, eta, 1)
    np.testing.assert_allclose(expected, w * dmu**2 / family.variance(mu0), rtol=1e-6)
    score_observed, _ = inference.score_and_observed(family, y, w, eta)
    np.testing.assert_allclose(score, score_observed, rtol=1e-10, atol=1e-12)
    # the solvers pass the mean they already have: the same weights
    given = inference.score_and_expected(family, y, w, eta, mu=mu0)
    np.testing.assert_allclose(given, (score, expected), rtol=1e-15, atol=0)


CANONICAL = [jg.Gaussian(), jg.Binomial(), jg.Poisson(), jg.Gamma(), jg.InverseGaussian(),
             jg.Tweedie(power=1.5, link=links.Power(-0.5))]


@pytest.mark.parametrize("family", CANONICAL, ids=lambda f: f"{type(f).__name__}-{f.link.name}")
def test_canonical_link_observed_equals_expected(family):
    y, eta, w = eta_grid(family)
    _, observed = inference.score_and_observed(family, y, w, eta)
    _, expected = inference.score_and_expected(family, y, w, eta)
    np.testing.assert_allclose(observed, expected, rtol=1e-10)


@pytest.mark.parametrize("family", [jg.Gamma(link="log"), jg.Binomial(link="probit"), jg.Poisson(link="sqrt")],
                         ids=lambda f: f"{type(f).__name__}-{f.link.name}")
def test_noncanonical_link_observed_differs_from_expected(family):
    """Guards the test above: for a non-canonical link the two weights differ where y != mu."""
    y, eta, w = eta_grid(family)
    _, observed = inference.score_and_observed(family, y, w, eta)
    _, expected = inference.score_and_expected(family, y, w, eta)
    assert np.max(np.abs(np.asarray(observed) - np.asarray(expected))) > 1e-3


@pytest.mark.parametrize("family", family_link_cases())
def test_unit_deviance_eta_equals_unit_deviance(family):
    """The solvers' deviance in eta equals the family's deviance at mu = link.inverse(eta), and,
    independently of unit_deviance, 2 phi (loglik(y; y) - loglik(y; mu)) / w (where the
    saturated log-likelihood exists: not Tweedie's quasi-likelihood at y = 0)."""
    y, mu, w = grid(family)
    eta = family.link.link(mu)
    by_eta = family.unit_deviance_eta(y, eta)
    np.testing.assert_allclose(by_eta, family.unit_deviance(y, mu), rtol=1e-10, atol=1e-12)
    phi = phi_for(family)
    from_loglik = 2 * phi * (family.loglik(y, y, w, phi) - family.loglik(y, family.link.inverse(eta), w, phi)) / w
    finite = np.isfinite(np.asarray(from_loglik))
    assert finite.sum() >= GRID_SIZE // 2
    np.testing.assert_allclose(np.asarray(by_eta)[finite], np.asarray(from_loglik)[finite], rtol=1e-9, atol=1e-12)


def test_binomial_logit_deviance_eta_over_the_range():
    """0/1 and fractional y over |eta| <= 30 (probabilities down to 1e-13): the one-log form
    against an independent float64 formula in numpy (log1p/expm1 based)."""
    fam = jg.Binomial()
    eta = np.linspace(-30, 30, 121)
    for y_value in (0.0, 1.0, 0.3):
        y = np.full_like(eta, y_value)
        log_mu, log_1m_mu = -np.logaddexp(0, -eta), -np.logaddexp(0, eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            saturated = np.nan_to_num(y * np.log(y)) + np.nan_to_num((1 - y) * np.log(1 - y))
        expected = 2 * (saturated - y * log_mu - (1 - y) * log_1m_mu)
        np.testing.assert_allclose(fam.unit_deviance_eta(jnp.asarray(y), jnp.asarray(eta)), expected,
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("family", [jg.Binomial(), jg.Poisson(), jg.Poisson(link="identity")],
                         ids=["binomial", "poisson", "poisson-identity"])
def test_deviance_objective_sums_and_flags_invalid_means(family):
    """The solvers' objective: sum(w d(y, mu)) over w > 0 and True while every mean with w > 0 is
    valid; +inf and False once one is not; an invalid mean with weight 0 does not count."""
    y = jnp.asarray([0.0, 1.0, 1.0, 0.0, 1.0])
    w = jnp.asarray([1.0, 2.0, 0.5, 0.0, 1.0])
    objective = inference.deviance_objective(family, y, w)
    eta = family.link.link(jnp.asarray([0.2, 0.6, 0.7, 0.4, 0.9]))
    dev, ok, mu = objective(eta)
    expected = np.sum(np.asarray(w) * np.asarray(family.unit_deviance(y, family.link.inverse(eta))))
    np.testing.assert_allclose(dev, expected, rtol=1e-12)
    np.testing.assert_allclose(mu, family.link.inverse(eta), rtol=1e-15)
    assert bool(ok)
    invalid = -50.0 if family.link.name == "identity" else jnp.inf  # mean < 0, or mu = 1 / inf
    for i, counted in ((1, True), (3, False)):
        dev_i, ok_i, _ = objective(eta.at[i].set(invalid))
        assert bool(ok_i) is not counted
        assert (float(dev_i) == np.inf) is counted


def whole_data_case(family, rng):
    """Host data every table argument of ``family`` sees as whole: counts, or 0/1 with whole trials."""
    n = GRID_SIZE
    if isinstance(family, jg.Binomial):
        return rng.integers(0, 2, n).astype(float), rng.integers(1, 15, n).astype(float)
    return rng.poisson(3.0, n).astype(float), np.ones(n)


TABLE_FAMILIES = [jg.Poisson(), jg.Binomial(), jg.NegativeBinomial(alpha=0.7)]


@pytest.mark.parametrize("family", TABLE_FAMILIES, ids=lambda f: type(f).__name__)
def test_whole_data_mark_gives_the_same_values_without_the_fallback(family):
    """On count / 0-1 data the marked family traces the table lookups alone (no test, no
    ``gammaln`` branch), and its log-likelihood and deviance equal the unmarked family's and
    scipy's density."""
    y, w = whole_data_case(family, np.random.default_rng(12))
    marked = families.with_whole_data(family, y, w)
    assert marked.whole_data and not family.whole_data
    mu = jnp.asarray(np.resize(np.array([0.2, 0.45, 0.7, 0.9]), y.size))
    args = (jnp.asarray(y), mu, jnp.asarray(w), 1.0)
    np.testing.assert_array_equal(marked.loglik(*args), family.loglik(*args))
    np.testing.assert_allclose(marked.saturated_loglik(args[0], args[2], 1.0),
                               family.loglik(args[0], args[0], args[2], 1.0), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(marked.unit_deviance(*args[:2]), family.unit_deviance(*args[:2]))
    np.testing.assert_allclose(marked.loglik(*args), SCIPY_LOGPDF[type(family)](y, np.asarray(mu), w, 1.0, family),
                               rtol=1e-10, atol=1e-12)
    traced = lambda fam: str(jax.make_jaxpr(fam.loglik)(*args)) + str(jax.make_jaxpr(fam.unit_deviance)(*args[:2]))
    marked_text, plain_text = traced(marked), traced(family)
    assert "cond" not in marked_text and "cond" in plain_text
    # NegativeBinomial keeps its own gammaln(y + 1/alpha); log y! is a lookup either way.
    assert marked_text.count("lgamma") < plain_text.count("lgamma")


def test_whole_binomial_saturated_terms_are_zero_without_tables():
    """Marked whole, Binomial data are 0/1 with whole trials m: log C(m, m y) and the saturated
    terms are exactly 0, traced with no table lookup (gather) and no lgamma; unmarked, the same
    values come from the tables' fallback."""
    family = jg.Binomial()
    y, w = whole_data_case(family, np.random.default_rng(13))
    marked = families.with_whole_data(family, y, w)
    args = (jnp.asarray(y), jnp.asarray(w), 1.0)
    assert np.all(np.asarray(marked.saturated_loglik(*args)) == 0.0)
    np.testing.assert_allclose(family.saturated_loglik(*args), 0.0, atol=1e-12)
    text = str(jax.make_jaxpr(marked.saturated_loglik)(*args)) + str(
        jax.make_jaxpr(marked.unit_deviance_eta)(args[0], jnp.linspace(-2.0, 2.0, y.size)))
    assert "gather" not in text and "lgamma" not in text


def test_binomial_start_values_in_closed_form():
    """Marked whole with the logit link, Binomial's start (eta0, mu0, deviance0) equals
    logit(mustart), mustart and the deviance at mustart computed directly (numpy, scipy's
    logit), trials 0 and several included; any other case (unmarked, another link, another
    family) has none, so the solvers take link(init_mu) as before."""
    from scipy.special import logit
    rng = np.random.default_rng(14)
    w = rng.integers(0, 6, size=200).astype(float)
    y = rng.integers(0, 2, size=200).astype(float)
    marked = families.with_whole_data(jg.Binomial(), y, w)
    eta, mu, dev = marked.start_values(jnp.asarray(y), jnp.asarray(w))
    mustart = (w * y + 0.5) / (w + 1)
    np.testing.assert_allclose(mu, mustart, rtol=1e-15)
    np.testing.assert_allclose(eta, logit(mustart), rtol=1e-14, atol=1e-15)
    direct = -2 * np.sum(w * (y * np.log(mustart) + (1 - y) * np.log1p(-mustart)))
    np.testing.assert_allclose(dev, direct, rtol=1e-13)
    assert jg.Binomial().start_values(jnp.asarray(y), jnp.asarray(w)) is None
    probit = families.with_whole_data(jg.Binomial(link="probit"), y, w)
    assert probit.whole_data and probit.start_values(jnp.asarray(y), jnp.asarray(w)) is None
    poisson = families.with_whole_data(jg.Poisson(), y, w)
    assert poisson.whole_data and poisson.start_values(jnp.asarray(y), jnp.asarray(w)) is None


@pytest.mark.parametrize("whole", [True, False], ids=["0/1 data", "proportions"])
def test_binomial_logit_deviance_terms_without_a_mask_equal_the_masked_deviance(whole):
    """Binomial's logit deviance terms (no mask for weight 0; the saturated part formed once)
    sum to the masked deviance sum(weight * d(y, mu)) computed in numpy, for 0/1 data marked
    whole and for proportions, with weight 0 on extreme eta (-800, 800) and on a y outside [0, 1]:
    those terms are 0.  Where a weighted mean underflows to 0 the objective is +inf and invalid.
    The terms are traced with no select (what keeps the logarithm in a vectorised kernel)."""
    rng = np.random.default_rng(16)
    w = rng.integers(0, 4, size=300).astype(float)
    y = rng.integers(0, 2, size=300).astype(float) if whole else rng.uniform(0, 1, size=300)
    eta = rng.normal(0, 3, size=300)
    eta[:4], w[:4] = [-800.0, 800.0, -40.0, 40.0], 0.0
    family = families.with_whole_data(jg.Binomial(), y, w) if whole else jg.Binomial()
    assert family.whole_data == whole
    if not whole:
        y[2] = 7.0  # allowed where the weight is 0
    terms = family.deviance_eta_terms(jnp.asarray(y), jnp.asarray(w))
    got = np.asarray(terms(jnp.asarray(eta)))
    with np.errstate(all="ignore"):  # the extreme eta overflow here; their weight is 0
        mu = 1 / (1 + np.exp(-eta))
        sat = np.where((y > 0) & (y < 1), y * np.log(y) + (1 - y) * np.log1p(-y), 0.0)
        want = np.where(w > 0, 2 * w * (sat - y * np.log(mu) - (1 - y) * np.log1p(-mu)), 0.0)
    assert np.all(got[:4] == 0.0)
    np.testing.assert_allclose(got.sum(), want.sum(), rtol=1e-12)  # the saturated part included
    jaxpr = str(jax.make_jaxpr(terms)(jnp.asarray(eta)))
    assert "select" not in jaxpr
    dev, valid, _ = inference.deviance_objective(family, jnp.asarray(y), jnp.asarray(w))(jnp.asarray(eta))
    assert bool(valid) and np.isclose(float(dev), want.sum(), rtol=1e-12)
    w[0] = 1.0  # now a weighted observation with a mean of 0: outside the range
    y[0] = 0.0
    dev, valid, _ = inference.deviance_objective(family, jnp.asarray(y), jnp.asarray(w))(jnp.asarray(eta))
    assert not bool(valid) and float(dev) == np.inf


def test_fit_from_closed_form_start_equals_fit_from_link_of_mustart(monkeypatch):
    """A logistic fit on 0/1 data started from Binomial's closed-form start, with its unmasked
    deviance terms, takes the same iterations to the same estimate, deviance and status as one
    started from link(mustart), the mean and deviance there, with the generic masked terms (both
    shortcuts disabled, traced afresh), and equals statsmodels."""
    import statsmodels.api as sm
    from jaxglm.fit import fit_arrays
    rng = np.random.default_rng(15)
    X = np.column_stack([np.ones(150), rng.normal(size=(150, 2))])
    y = rng.binomial(1, 1 / (1 + np.exp(-X @ [0.3, 0.8, -0.5]))).astype(float)
    w = rng.integers(1, 4, size=150).astype(float)
    family = families.with_whole_data(jg.Binomial(), y, w)
    args = (X, y, family, w, np.zeros(150), np.zeros(3), 50, 1e-8)
    fit_now = lambda: jax.jit(lambda *a: fit_arrays(*a, has_offset=False), static_argnums=2)(*args)
    closed = fit_now()
    monkeypatch.setattr(jg.Binomial, "start_values", lambda self, y, weight: None)
    monkeypatch.setattr(jg.Binomial, "deviance_eta_terms", families.Family.deviance_eta_terms)
    generic = fit_now()
    assert int(closed.n_iter) == int(generic.n_iter) and int(closed.status) == int(generic.status) == 0
    for name in ("coef", "std_err", "deviance", "null_deviance", "loglik"):
        np.testing.assert_allclose(getattr(closed, name), getattr(generic, name), rtol=1e-12)
    ref = sm.GLM(y, X, family=sm.families.Binomial(), var_weights=w).fit(tol=1e-12)
    np.testing.assert_allclose(closed.coef, ref.params, rtol=1e-8)


@pytest.mark.parametrize("family, y, w", [
    (jg.Poisson(), [0.0, 2.5, 3.0], [1.0, 1.0, 1.0]),                  # a non-integer count
    (jg.Poisson(), [0.0, 4096.0, 3.0], [1.0, 1.0, 1.0]),               # past the table
    (jg.NegativeBinomial(), [0.0, np.nan, 3.0], [1.0, 1.0, 1.0]),
    (jg.Binomial(), [0.0, 0.5, 1.0], [2.0, 2.0, 2.0]),                 # proportions
    (jg.Binomial(), [0.0, 2.0, 1.0], [1.0, 1.0, 1.0]),                 # whole but not 0/1
    (jg.Binomial(), [0.0, 1.0, 1.0], [1.0, 1.5, 1.0]),                 # fractional trials
    (jg.Binomial(), [0.0, 1.0, 1.0], [1.0, -1.0, 1.0]),
])
def test_whole_data_mark_refused_unless_every_argument_is_whole(family, y, w):
    assert families.with_whole_data(family, np.array(y), np.array(w)) is family


@pytest.mark.parametrize("family", [c.values[0] for c in FAMILY_CASES])
def test_whole_data_mark_structure(family):
    """Families without tables are never marked; a mark is a static part of the pytree (its own
    compiled program), and ``without_whole_data`` restores the user's structure."""
    y, w = whole_data_case(family, np.random.default_rng(13))
    marked = families.with_whole_data(family, y, w)
    structure = jax.tree_util.tree_structure
    if not family.table_arguments(y, w):
        assert marked is family
        return
    assert structure(marked) != structure(family)
    assert structure(jax.tree_util.tree_map(lambda a: a, marked)) == structure(marked)
    plain = families.without_whole_data(marked)
    assert structure(plain) == structure(family) and not plain.whole_data and marked.whole_data


def test_fit_marks_whole_data_only_when_eager(monkeypatch):
    """An eager ``fit`` on counts fits the marked family (table lookups alone), on non-integer
    data the checked one, and under ``jit`` (traced y) never marks; every result carries the
    family as given and equals statsmodels."""
    import statsmodels.api as sm
    fit_module = importlib.import_module("jaxglm.fit")  # the module, not the function jg.fit
    rng = np.random.default_rng(14)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    counts = rng.poisson(np.exp(X @ [0.4, 0.3])).astype(float)
    seen = []
    mark = fit_module.with_whole_data
    monkeypatch.setattr(fit_module, "with_whole_data", lambda *a: seen.append(mark(*a)) or seen[-1])
    for y, whole in ((counts, True), (counts + 0.25, False)):
        res = jg.fit(X, y, jg.Poisson())
        assert seen.pop().whole_data is whole and not res.family.whole_data
        ref = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef, ref.params, rtol=1e-7)
        np.testing.assert_allclose(res.loglik, ref.llf, rtol=1e-10)
    traced = jax.jit(jg.fit, static_argnums=2)(X, counts, jg.Poisson())
    assert seen == [] and not traced.family.whole_data
    np.testing.assert_allclose(traced.coef, jg.fit(X, counts, jg.Poisson()).coef, rtol=1e-12)
