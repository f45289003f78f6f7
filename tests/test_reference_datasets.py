"""jaxglm against statsmodels' GLM on real datasets shipped with statsmodels (offline).

Datasets (``statsmodels.datasets``), default run:
* scotland  (n=32, p=8)     Gamma, inverse link      (statsmodels' GLM documentation example)
* star98    (n=303, p=21)   Binomial with trials (NABOVE of NABOVE + NBELOW), logit
* committee (n=20, p=5)     Poisson, log, offset log(SIZE) (exposure)
* fair      (n=6366, p=7)   Tweedie(power 1.5), log  (affairs: zeros and positive amounts)
``-m slow`` adds cpunish Poisson-log (n=17), copper Gaussian-identity and
InverseGaussian-log (n=25), scotland Gamma-log, star98 probit, anes96 Binomial-logit (vote,
n=944), randhie NegativeBinomial-log (mdvis, n=20190), committee NegativeBinomial-log.

Each field is compared as in ``test_reference_simulated`` (same helpers, same tolerances:
rtol 1e-6 for coef, std_err, cov, statistic, conf_int, p_value (on log p), scale, deviance,
null_deviance, pearson_chi2, loglik/aic/bic against R's values from scipy densities;
exact nobs/df; where statsmodels' likelihood convention differs from R's, the difference
is shown to be exactly that convention).
"""

import numpy as np
import pytest
import statsmodels.api as sm

import jaxglm as jg
from test_reference_simulated import (TOL, check_convention, check_estimates, check_loglik_aic_bic, close, close_p,
                                      fit_statsmodels)

DATA = sm.datasets


def with_const(frame):
    x = np.asarray(frame, float)
    return np.column_stack([np.ones(x.shape[0]), x])


def scotland():
    d = DATA.scotland.load_pandas()
    return with_const(d.exog), np.asarray(d.endog, float), None, None


def star98():
    d = DATA.star98.load_pandas()
    success, failure = (np.asarray(d.endog[c], float) for c in ("NABOVE", "NBELOW"))
    trials = success + failure
    return with_const(d.exog), success / trials, trials, None


def cpunish():
    d = DATA.cpunish.load_pandas()
    exog = d.exog.copy()
    exog["VC100k96"] = np.log(exog["VC100k96"])
    return with_const(exog), np.asarray(d.endog, float), None, None


def committee():
    d = DATA.committee.load_pandas().data
    exog = np.column_stack([d.SUBS, np.log(d.STAFF), d.PRESTIGE, np.log1p(d.BILLS103)])
    return with_const(exog), np.asarray(d.BILLS104, float), None, np.log(np.asarray(d.SIZE, float))


def committee_no_offset():
    X, y, _, _ = committee()
    return X, y, None, None


def copper():
    d = DATA.copper.load_pandas()
    return with_const(d.exog), np.asarray(d.endog, float), None, None


def fair():
    d = DATA.fair.load_pandas().data
    cols = ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]
    return with_const(d[cols]), np.asarray(d.affairs, float), None, None


def anes96():
    d = DATA.anes96.load_pandas().data
    cols = ["logpopul", "selfLR", "age", "educ", "income"]
    return with_const(d[cols]), np.asarray(d.vote, float), None, None


def randhie():
    d = DATA.randhie.load_pandas()
    return with_const(d.exog), np.asarray(d.endog, float), None, None


SLOW = pytest.mark.slow
CASES = [
    pytest.param(scotland, jg.Gamma(), id="scotland-Gamma-inverse"),
    pytest.param(star98, jg.Binomial(), id="star98-Binomial-logit"),
    pytest.param(cpunish, jg.Poisson(), id="cpunish-Poisson-log", marks=SLOW),
    pytest.param(committee, jg.Poisson(), id="committee-Poisson-log-offset"),
    pytest.param(copper, jg.Gaussian(), id="copper-Gaussian-identity", marks=SLOW),
    pytest.param(fair, jg.Tweedie(power=1.5), id="fair-Tweedie-log"),
    pytest.param(scotland, jg.Gamma(link="log"), id="scotland-Gamma-log", marks=SLOW),
    pytest.param(star98, jg.Binomial(link="probit"), id="star98-Binomial-probit", marks=SLOW),
    pytest.param(anes96, jg.Binomial(), id="anes96-Binomial-logit", marks=SLOW),
    pytest.param(randhie, jg.NegativeBinomial(alpha=1.3), id="randhie-NegativeBinomial-log", marks=SLOW),
    pytest.param(copper, jg.InverseGaussian(link="log"), id="copper-InverseGaussian-log", marks=SLOW),
    pytest.param(committee_no_offset, jg.NegativeBinomial(alpha=0.5), id="committee-NegativeBinomial-log",
                 marks=SLOW),
]
_CACHE = {}


def fitted(load, family):
    key = (load.__name__, repr(family))
    if key not in _CACHE:
        X, y, w, offset = load()
        ours = jg.fit(X, y, family, weights=w, offset=offset, tol=TOL)
        weights = np.ones_like(y) if w is None else w
        _CACHE[key] = (X, y, weights, ours, fit_statsmodels(family, X, y, weights, offset))
    return _CACHE[key]


@pytest.mark.parametrize("load,family", CASES)
def test_estimates_and_inference(load, family):
    X, y, w, ours, sm_res = fitted(load, family)
    assert sm_res.use_t == (not family.scale_fixed)
    check_estimates(ours, sm_res)
    close_p(ours.p_value, sm_res.pvalues)
    close(ours.conf_int(), sm_res.conf_int())


@pytest.mark.parametrize("load,family", CASES)
def test_deviances_and_degrees_of_freedom(load, family):
    X, y, w, ours, sm_res = fitted(load, family)
    for field in ("scale", "deviance", "null_deviance", "pearson_chi2"):
        close(getattr(ours, field), getattr(sm_res, field))
    assert float(ours.nobs) == sm_res.nobs == X.shape[0]
    assert float(ours.df_resid) == sm_res.df_resid == X.shape[0] - X.shape[1]
    assert float(ours.df_model) == sm_res.df_model == X.shape[1] - 1


@pytest.mark.parametrize("load,family", CASES)
def test_loglik_aic_bic(load, family):
    X, y, w, ours, sm_res = fitted(load, family)
    check_loglik_aic_bic(family, y, w, ours, sm_res)
    check_convention(family, y, w, ours, sm_res)


def test_scotland_gamma_loglik_is_r_convention():
    """Unit weights: statsmodels' llf at R's dispersion deviance / n equals ours; at its own
    (Pearson) scale it differs, so the only difference is the dispersion used."""
    X, y, w, ours, sm_res = fitted(scotland, jg.Gamma())
    close(ours.loglik, sm_res.llf_scaled(scale=sm_res.deviance / sm_res.nobs))
    assert abs(float(ours.loglik) - sm_res.llf) > 1e-3
    close(sm_res.llf, sm_res.llf_scaled(scale=sm_res.scale))
