"""Every family with each of its usual links against statsmodels' GLM on simulated data.

Each case uses prior weights (statsmodels ``var_weights``; Binomial: the number of trials,
given to statsmodels as (successes, failures)) and an offset, n = 200, p = 3, and both
sides are fitted to convergence so the comparison is about the estimate, not the stopping
rule: jaxglm at tol = 1e-14 (floored at 50 machine epsilons of relative deviance change),
statsmodels iterated until the deviance stops changing (atol = rtol = 0, at most 100 IRLS
steps).  With R's criterion at tol = 1e-12 a slowly converging (non-canonical) fit stops
~1e-7 from the optimum, which is the stopping rule, not the estimate.  All comparisons are
relative, float64:

* coef, std_err, cov, statistic, scale, deviance, null_deviance, pearson_chi2      rtol 1e-6
* p_value (statsmodels ``use_t=True`` where the scale is estimated)   |log p - log p_sm| <= 1e-6 (1 + |log p_sm|)
* conf_int at 95% and 90%                                                          rtol 1e-6
* nobs, df_resid, df_model                                                           exact
* loglik, aic, bic against R's values computed here from scipy.stats densities at
  statsmodels' fitted means (R: k = rank + 1 when the scale is estimated, BIC with
  log(nobs))                                                                         rtol 1e-6
* where statsmodels' likelihood convention differs from R's, the test shows that the
  difference is exactly that convention (see ``test_loglik_convention``)             rtol 1e-6
* zero weights drop observations: a fit with zero weights equals statsmodels (and R's
  likelihood) on the subset, and nobs / df_resid count only non-zero weights       rtol 1e-6
* no constant column: the null model is the offset alone (R); statsmodels' null deviance and
  df_model differ by exactly that convention                                       rtol 1e-6
* the t / normal quantiles and tails behind p_value and conf_int vs scipy, df 1..inf rtol 1e-10
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import jaxglm as jg
from jaxglm import links

SM_LINKS = sm.families.links
RTOL = 1e-6
N = 200
TOL = 1e-14

USUAL_LINKS = {
    jg.Gaussian: ["identity", "log", "inverse"],
    jg.Binomial: ["logit", "probit", "cloglog", "log"],
    jg.Poisson: ["log", "identity", "sqrt"],
    jg.Gamma: ["inverse", "identity", "log"],
    jg.InverseGaussian: ["inverse_squared", "inverse", "identity", "log"],
    jg.NegativeBinomial: ["log", "sqrt", "identity"],
    jg.Tweedie: ["log", "identity", "inverse"],
}
PARAMS = {jg.NegativeBinomial: {"alpha": 0.7}, jg.Tweedie: {"power": 1.5}}
MEAN_RANGE = {jg.Gaussian: (1.0, 3.0), jg.Binomial: (0.15, 0.6), jg.Poisson: (2.0, 8.0),
              jg.Gamma: (1.0, 3.0), jg.InverseGaussian: (1.0, 3.0), jg.NegativeBinomial: (2.0, 8.0),
              jg.Tweedie: (1.0, 4.0)}


def sm_link(link):
    named = {"identity": SM_LINKS.Identity, "log": SM_LINKS.Log, "logit": SM_LINKS.Logit,
             "probit": SM_LINKS.Probit, "cloglog": SM_LINKS.CLogLog, "inverse": SM_LINKS.InversePower,
             "inverse_squared": SM_LINKS.InverseSquared, "sqrt": SM_LINKS.Sqrt}
    if isinstance(link, links.Power):
        return SM_LINKS.Power(float(link.power))
    return named[link.name]()


def sm_family(family):
    link = sm_link(family.link)
    fams = sm.families
    if isinstance(family, jg.NegativeBinomial):
        return fams.NegativeBinomial(alpha=float(family.alpha), link=link)
    if isinstance(family, jg.Tweedie):
        return fams.Tweedie(var_power=float(family.power), link=link)
    cls = {jg.Gaussian: fams.Gaussian, jg.Binomial: fams.Binomial, jg.Poisson: fams.Poisson,
           jg.Gamma: fams.Gamma, jg.InverseGaussian: fams.InverseGaussian}[type(family)]
    return cls(link=link)


def design(rng, n=N):
    u = rng.uniform(-1.0, 1.0, (n, 3))
    return np.column_stack([np.ones(n), u[:, :2]]), u[:, 2]


X, V = design(np.random.default_rng(20261123))


def draw(family, mu, w, rng):
    """One response from the family at mean mu with prior weight w (Binomial: w trials)."""
    if isinstance(family, jg.Gaussian):
        return mu + 0.3 * rng.normal(size=mu.size) / np.sqrt(w)
    if isinstance(family, jg.Binomial):
        return rng.binomial(w.astype(int), mu) / w
    if isinstance(family, jg.Poisson):
        return rng.poisson(mu).astype(float)
    if isinstance(family, jg.Gamma):
        phi = 0.3 / w
        return rng.gamma(1.0 / phi, mu * phi)
    if isinstance(family, jg.InverseGaussian):
        return rng.wald(mu, w / 0.2)
    if isinstance(family, jg.NegativeBinomial):
        a = float(family.alpha)
        return rng.negative_binomial(1.0 / a, 1.0 / (1.0 + a * mu)).astype(float)
    if isinstance(family, jg.Tweedie):  # compound Poisson-gamma
        p, phi = float(family.power), 0.8 / w
        counts = rng.poisson(mu ** (2 - p) / (phi * (2 - p)))
        shape, scale = (2 - p) / (p - 1), phi * (p - 1) * mu ** (p - 1)
        return np.array([rng.gamma(shape, s, c).sum() for c, s in zip(counts, scale)])
    raise NotImplementedError(type(family))


def simulate(family, seed):
    """(y, weights, offset): eta = m + d (0.6 u1 - 0.35 u2) + offset spans the family's mean range."""
    rng = np.random.default_rng(seed)
    lo, hi = (float(family.link.link(np.asarray(b))) for b in MEAN_RANGE[type(family)])
    m, d = (lo + hi) / 2, (hi - lo) / 2
    offset = 0.05 * d * V
    eta = m + d * (0.6 * X[:, 1] - 0.35 * X[:, 2]) + offset
    mu = np.asarray(family.link.inverse(eta))
    w = rng.integers(1, 13, N).astype(float) if isinstance(family, jg.Binomial) else rng.uniform(0.5, 2.0, N)
    return draw(family, mu, w, rng), w, offset


def fit_statsmodels(family, X, y, w, offset):
    """statsmodels GLM iterated to a fixed point (use_t where the scale is estimated, as our p-values)."""
    if isinstance(family, jg.Binomial):
        endog, kw = np.column_stack([w * y, w * (1 - y)]), {}
    else:
        endog, kw = y, {"var_weights": w}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sm.GLM(endog, X, family=sm_family(family), offset=offset, **kw)
        return model.fit(tol=0.0, atol=0.0, rtol=0.0, maxiter=100, use_t=not family.scale_fixed)


# Each distinct (family, link) costs a compile (seconds on 2 shared cores): the default run
# covers every family's canonical link and the most used non-canonical ones; the rest of the
# matrix runs with ``-m slow``.
DEFAULT_RUN = {(jg.Gaussian, "identity"), (jg.Binomial, "logit"),
               (jg.Poisson, "log"), (jg.Poisson, "identity"), (jg.Gamma, "inverse"), (jg.Gamma, "log"),
               (jg.InverseGaussian, "inverse_squared"), (jg.NegativeBinomial, "log"), (jg.Tweedie, "log")}


def case_list():
    cases = []
    for cls, names in USUAL_LINKS.items():
        for name in names:
            marks = () if (cls, name) in DEFAULT_RUN else (pytest.mark.slow,)
            cases.append(pytest.param((cls, name), id=f"{cls.__name__}-{name}", marks=marks))
    return cases


CASES = case_list()
CASE_SEED = {c.values[0]: 100 + i for i, c in enumerate(CASES)}
_CACHE = {}


def fitted(case):
    """(family, y, w, offset, ours, theirs), fitted once per module."""
    if case not in _CACHE:
        cls, link = case
        family = cls(link=link, **PARAMS.get(cls, {}))
        y, w, offset = simulate(family, seed=CASE_SEED[case])
        ours = jg.fit(X, y, family, weights=w, offset=offset, tol=TOL)
        _CACHE[case] = (family, y, w, offset, ours, fit_statsmodels(family, X, y, w, offset))
    return _CACHE[case]


def close(actual, desired, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(desired, float), rtol=rtol, atol=0)


def close_p(actual, desired, rtol=RTOL):
    """p-values: |log p - log p_ref| <= rtol (1 + |log p_ref|): relative 1e-6 for ordinary p, and
    relative in log p for far-tail ones (p = 1e-150 at |z| = 26 amplifies a 1e-9 relative
    difference in z by z^2)."""
    actual, desired = np.asarray(actual, float), np.asarray(desired, float)
    assert np.array_equal(actual == 0, desired == 0)  # both underflow together (|z| > 38)
    nonzero = desired > 0
    np.testing.assert_allclose(np.log(actual[nonzero]), np.log(desired[nonzero]), rtol=rtol, atol=rtol)


def check_estimates(ours, sm_res):
    """Converged, and coef, std_err, cov and statistic equal statsmodels' to RTOL."""
    assert int(ours.status) == 0 and bool(ours.converged)
    close(ours.coef, sm_res.params)
    close(ours.std_err, sm_res.bse)
    # the covariance relative to sd_i sd_j (an off-diagonal element can be near 0)
    sd = np.asarray(sm_res.bse)
    np.testing.assert_allclose(np.asarray(ours.cov) / np.outer(sd, sd), sm_res.cov_params() / np.outer(sd, sd),
                               rtol=0, atol=RTOL)
    close(ours.statistic, sm_res.tvalues)


@pytest.mark.parametrize("case", CASES)
def test_estimates(case):
    family, _, _, _, ours, sm_res = fitted(case)
    check_estimates(ours, sm_res)


@pytest.mark.parametrize("case", CASES)
def test_dispersion_and_deviances(case):
    family, _, _, _, ours, sm_res = fitted(case)
    close(ours.scale, sm_res.scale)
    close(ours.deviance, sm_res.deviance)
    close(ours.null_deviance, sm_res.null_deviance)
    close(ours.pearson_chi2, sm_res.pearson_chi2)
    if family.scale_fixed:
        assert float(ours.scale) == 1.0


@pytest.mark.parametrize("case", CASES)
def test_degrees_of_freedom(case):
    _, _, _, _, ours, sm_res = fitted(case)
    assert float(ours.nobs) == sm_res.nobs == N
    assert float(ours.df_resid) == sm_res.df_resid == N - 3
    assert float(ours.df_model) == sm_res.df_model == 2


@pytest.mark.parametrize("case", CASES)
def test_p_values_and_conf_int(case):
    family, _, _, _, ours, sm_res = fitted(case)
    assert sm_res.use_t == (not family.scale_fixed)
    close_p(ours.p_value, sm_res.pvalues)
    close(ours.conf_int(), sm_res.conf_int())
    close(ours.conf_int(0.9), sm_res.conf_int(alpha=0.1))


def dispersion_r(family, deviance, w, nobs):
    """R's logLik dispersion: deviance / nobs (gaussian), deviance / sum(w) (Gamma, inverse.gaussian)."""
    if family.scale_fixed:
        return 1.0
    return deviance / (nobs if isinstance(family, jg.Gaussian) else np.sum(w))


def r_loglik_scipy(family, y, mu, w, phi):
    """R's logLik.glm, from scipy.stats densities (R's aic functions of each family)."""
    if isinstance(family, jg.Gaussian):
        return np.sum(stats.norm.logpdf(y, mu, np.sqrt(phi / w)))
    if isinstance(family, jg.Binomial):
        return np.sum(stats.binom.logpmf(np.round(w * y), w, mu))
    if isinstance(family, jg.Poisson):
        return np.sum(w * stats.poisson.logpmf(y, mu))
    if isinstance(family, jg.Gamma):
        return np.sum(w * stats.gamma.logpdf(y, 1.0 / phi, scale=mu * phi))
    if isinstance(family, jg.InverseGaussian):
        return np.sum(w * stats.invgauss.logpdf(y, mu * phi, scale=1.0 / phi))
    if isinstance(family, jg.NegativeBinomial):
        a = float(family.alpha)
        return np.sum(w * stats.nbinom.logpmf(y, 1.0 / a, 1.0 / (1.0 + a * mu)))
    raise NotImplementedError(type(family))


def check_loglik_aic_bic(family, y, w, ours, sm_res):
    """loglik, aic, bic equal R's values computed from scipy at statsmodels' fit."""
    if not family.has_density:
        assert np.isnan(float(ours.loglik)) and np.isnan(float(ours.aic)) and np.isnan(float(ours.bic))
        return
    nobs = sm_res.nobs
    phi = dispersion_r(family, sm_res.deviance, w, nobs)
    ll = r_loglik_scipy(family, y, sm_res.mu, w, phi)
    k = sm_res.df_model + 1 + (0 if family.scale_fixed else 1)
    close(ours.loglik, ll)
    close(ours.aic, -2 * ll + 2 * k)
    close(ours.bic, -2 * ll + np.log(nobs) * k)


@pytest.mark.parametrize("case", CASES)
def test_loglik_aic_bic_r_convention(case):
    family, y, w, _, ours, sm_res = fitted(case)
    check_loglik_aic_bic(family, y, w, ours, sm_res)


def check_convention(family, y, w, ours, sm_res):
    """Where statsmodels and R agree, equality; where they differ, the difference is the convention."""
    fam, mu, nobs = sm_res.family, sm_res.mu, sm_res.nobs
    if not family.has_density:
        return
    if family.scale_fixed:  # Binomial, Poisson, NB: same density, same k (no scale parameter)
        close(ours.loglik, sm_res.llf)
        close(ours.aic, sm_res.aic)
        close(ours.bic, sm_res.bic_llf)
        return
    # statsmodels' aic/bic count only the mean parameters; R adds one for the scale.
    if isinstance(family, jg.Gaussian):
        # Same weighted normal density; R evaluates it at deviance / nobs.  statsmodels does
        # too for the identity link (concentrated likelihood), else at the Pearson scale.
        ll_r = sm_res.llf_scaled(scale=sm_res.deviance / nobs)
        if family.link.name == "identity":
            close(sm_res.llf, ll_r)
        else:
            close(sm_res.llf, sm_res.llf_scaled(scale=sm_res.scale))
    else:
        # Gamma / inverse Gaussian: statsmodels evaluates llf at the Pearson scale and lets
        # var_weights change the density's shape (dispersion phi / w); R multiplies the unit
        # weight log density by w and evaluates it at deviance / sum(w).
        close(sm_res.llf, np.sum(fam.loglike_obs(y, mu, var_weights=w, scale=sm_res.scale)))
        ll_r = np.sum(w * fam.loglike_obs(y, mu, var_weights=1.0, scale=sm_res.deviance / np.sum(w)))
    close(ours.loglik, ll_r)
    close(ours.aic, -2 * ll_r + 2 * (sm_res.df_model + 2))
    close(ours.bic, -2 * ll_r + np.log(nobs) * (sm_res.df_model + 2))
    assert abs(sm_res.info_criteria("aic", dk_params=1) - (-2 * sm_res.llf + 2 * (sm_res.df_model + 2))) < 1e-9


@pytest.mark.parametrize("case", CASES)
def test_loglik_convention(case):
    family, y, w, _, ours, sm_res = fitted(case)
    check_convention(family, y, w, ours, sm_res)


@pytest.mark.parametrize("case", [pytest.param((jg.Gaussian, "identity"), id="Gaussian-identity"),
                                  pytest.param((jg.Binomial, "logit"), id="Binomial-logit"),
                                  pytest.param((jg.Gamma, "log"), id="Gamma-log")])
def test_zero_weights_drop_observations(case):
    """As R: an observation with weight 0 changes nothing and is not counted in nobs / df.

    Compared with statsmodels (and R's likelihood from scipy) fitted to the subset; the same
    shapes as the main fit, so no extra compile.
    """
    family, y, w, offset, _, _ = fitted(case)
    w0 = w.copy()
    drop = np.arange(N) % 10 == 3
    w0[drop] = 0.0
    y0 = y.copy()
    y0[drop] = np.where(isinstance(family, jg.Binomial), 0.5, 1e3)  # any value: it must not matter
    full = jg.fit(X, y0, family, weights=w0, offset=offset, tol=TOL)
    keep = ~drop
    sm_res = fit_statsmodels(family, X[keep], y[keep], w[keep], offset[keep])
    assert int(full.status) == 0
    assert float(full.nobs) == sm_res.nobs == keep.sum()
    assert float(full.df_resid) == sm_res.df_resid and float(full.df_model) == sm_res.df_model
    close(full.coef, sm_res.params)
    close(full.std_err, sm_res.bse)
    for field in ("scale", "deviance", "null_deviance", "pearson_chi2"):
        close(getattr(full, field), getattr(sm_res, field))
    close(full.conf_int(), sm_res.conf_int())
    check_loglik_aic_bic(family, y[keep], w[keep], full, sm_res)


@pytest.mark.parametrize("case", [pytest.param((jg.Poisson, "log"), id="Poisson-log"),
                                  pytest.param((jg.Gamma, "log"), id="Gamma-log")])
def test_no_intercept_null_model_is_offset_only(case):
    """R: without a constant column the null model is the offset alone (mu = g^-1(offset)), and
    df_model = rank.  statsmodels always fits an intercept-only null model and always reports
    df_model = rank - 1, so both differ by exactly that; its deviance function at
    g^-1(offset) gives R's null deviance."""
    family, y, w, offset, _, _ = fitted(case)
    X_nc = np.column_stack([X[:, 1], X[:, 2], V])  # same shape as X: no extra compile
    ours = jg.fit(X_nc, y, family, weights=w, offset=offset, tol=TOL)
    sm_res = fit_statsmodels(family, X_nc, y, w, offset)
    assert int(ours.status) == 0
    close(ours.coef, sm_res.params)
    close(ours.std_err, sm_res.bse)
    close(ours.deviance, sm_res.deviance)
    # R: df.null - df.residual = rank - intercept = 3; statsmodels' GLM always uses rank - 1.
    assert float(ours.df_model) == 3 == sm_res.df_model + 1
    assert float(ours.df_resid) == sm_res.df_resid == N - 3
    mu_null = np.exp(offset)  # log link
    if isinstance(family, jg.Poisson):
        by_hand = 2 * np.sum(w * (y * np.log(y / mu_null, where=y > 0, out=np.zeros(N)) - (y - mu_null)))
    else:
        by_hand = 2 * np.sum(w * (-np.log(y / mu_null) + (y - mu_null) / mu_null))
    close(ours.null_deviance, by_hand)
    close(ours.null_deviance, sm_res.family.deviance(y, mu_null, var_weights=w))
    assert abs(float(ours.null_deviance) - sm_res.null_deviance) > 1e-3 * sm_res.null_deviance


@pytest.mark.parametrize("case", [pytest.param((jg.Poisson, "log"), id="Poisson-log"),
                                  pytest.param((jg.Binomial, "logit"), id="Binomial-logit")])
def test_no_intercept_no_offset_null_model_is_the_mean_at_zero(case):
    """R: without a constant column and without an offset the null model's mean is g^-1(0) for
    every observation (1 for log, 1/2 for logit); its deviance by statsmodels' family."""
    family, y, w, _, _, _ = fitted(case)
    X_nc = np.column_stack([X[:, 1], X[:, 2], V])
    ours = jg.fit(X_nc, y, family, weights=w, tol=TOL)
    assert int(ours.status) == 0
    mu_null = np.full(N, 1.0 if isinstance(family, jg.Poisson) else 0.5)
    sm_family = sm.families.Poisson() if isinstance(family, jg.Poisson) else sm.families.Binomial()
    close(ours.null_deviance, sm_family.deviance(y, mu_null, var_weights=w))  # Binomial: w trials


def test_reference_distributions_against_scipy():
    """The normal / Student-t tails and quantiles behind p_value and conf_int, small df included."""
    import jax.numpy as jnp

    from jaxglm._stats import quantile, two_sided_p

    for df in [1.0, 2.0, 3.0, 5.0, 10.0, 24.0, 197.0, 1e4, np.inf]:
        probs = np.array([0.6, 0.95, 0.975, 0.995, 0.9995])
        close(quantile(jnp.asarray(probs), jnp.asarray(df)), stats.t.ppf(probs, df), rtol=1e-10)
        z = np.array([0.1, 1.0, 2.5, 6.0, 30.0])
        close(two_sided_p(jnp.asarray(z), jnp.asarray(df)), 2 * stats.t.sf(z, df), rtol=1e-10)
