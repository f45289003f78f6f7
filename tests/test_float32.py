"""float32: every family and solver computes in float32 (x64 enabled or not) and reaches float32 accuracy.

Expected accuracy against float64 references (statsmodels): deviance ~2e-7 relative,
standard errors ~2e-6, coefficients ~1e-7 relative to their largest magnitude.  IRLS stops
at R's rule with tol floored at 50 float32 epsilons = 6e-6 (coefficients ~1e-5 off), then
``assemble`` takes one more Newton / Fisher-scoring step (``fit.polished``): quadratic
convergence for canonical links and Newton, a linear-rate gain for IRLS with a
non-canonical link (negative binomial and Tweedie with log link: ~2e-5).
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

import jaxglm as jg
from jaxglm.status import Status

N = 100
FAMILIES = {
    "gaussian": (lambda: jg.Gaussian(), lambda: sm.families.Gaussian(), lambda r, m: m + r.normal(size=N)),
    "binomial": (lambda: jg.Binomial(), lambda: sm.families.Binomial(),
                 lambda r, m: r.binomial(1, m / (1 + m)).astype(float)),
    "poisson": (lambda: jg.Poisson(), lambda: sm.families.Poisson(), lambda r, m: r.poisson(m).astype(float)),
    "gamma": (lambda: jg.Gamma(), lambda: sm.families.Gamma(), lambda r, m: r.gamma(2.0, m / 2.0)),
    "inverse_gaussian": (lambda: jg.InverseGaussian(), lambda: sm.families.InverseGaussian(),
                         lambda r, m: r.wald(m, 5.0)),
    "negative_binomial": (lambda: jg.NegativeBinomial(alpha=0.7), lambda: sm.families.NegativeBinomial(alpha=0.7),
                          lambda r, m: r.negative_binomial(1 / 0.7, 1 / (1 + 0.7 * m)).astype(float)),
    "tweedie": (lambda: jg.Tweedie(power=1.5), lambda: sm.families.Tweedie(var_power=1.5),
                lambda r, m: r.poisson(m) * 1.3),
}
FLOAT_FIELDS = ("coef", "cov", "std_err", "statistic", "p_value", "scale", "deviance", "null_deviance",
                "pearson_chi2", "aic", "bic", "nobs", "df_resid")


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(7)
    return np.column_stack([np.ones(N), rng.uniform(-1, 1, size=(N, 2))])


def data(name, X):
    rng = np.random.default_rng(len(name))
    mean = np.exp(X @ np.array([0.5, 0.3, -0.2]))  # in (0.4, 2.7): valid for every family's default link
    return FAMILIES[name][2](rng, mean)


def reference(name, X, y, solver="irls"):
    """statsmodels in float64; for Newton its ``method="newton"`` fit, whose bse is from the observed
    Hessian, as jaxglm's Newton ``cov`` (they differ from the expected-information ones for
    non-canonical links)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if solver == "newton":
            return sm.GLM(y, X, family=FAMILIES[name][1]()).fit(method="newton", tol=1e-12, maxiter=200)
        return sm.GLM(y, X, family=FAMILIES[name][1]()).fit(tol=1e-12)


def check_float32(res):
    for field in FLOAT_FIELDS:
        assert np.asarray(getattr(res, field)).dtype == np.float32, field


CI_FAMILIES = ("binomial", "poisson", "gamma")  # the rest (and Newton) run with the slow tests


CASES = [pytest.param(name, solver, id=f"{name}-{solver}",
                      marks=() if name in CI_FAMILIES and solver == "irls" else pytest.mark.slow)
         for solver in ("irls", "newton") for name in FAMILIES]


@pytest.mark.parametrize("name, solver", CASES)
def test_every_family_in_float32(name, solver, X):
    y = data(name, X)
    res = jg.fit(X.astype(np.float32), y.astype(np.float32), FAMILIES[name][0](), solver=solver)
    check_float32(res)
    assert int(res.status) == Status.CONVERGED
    ref = reference(name, X, y, solver)
    scale = np.abs(ref.params).max()
    linear_rate = solver == "irls" and name in ("negative_binomial", "tweedie")
    np.testing.assert_allclose(res.coef, ref.params, rtol=0, atol=(1e-4 if linear_rate else 2e-6) * scale)
    np.testing.assert_allclose(res.std_err, ref.bse, rtol=2e-5)
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=2e-6)
    np.testing.assert_allclose(res.null_deviance, ref.null_deviance, rtol=1e-5)


def test_integer_counts_with_float32_design_compute_in_float32(X):
    y = data("poisson", X).astype(np.int64)
    res = jg.fit(X.astype(np.float32), y, jg.Poisson())
    check_float32(res)
    assert int(res.status) == Status.CONVERGED


def test_float32_separation(X):
    y = (X[:, 1] > 0).astype(np.float32)
    res = jg.fit(X.astype(np.float32), y, jg.Binomial())
    check_float32(res)
    assert int(res.status) == Status.SEPARATION and not bool(res.converged)
    assert np.all(np.isfinite(res.coef)) and np.all(np.isfinite(res.std_err)) and np.isfinite(res.deviance)


def test_float32_aliasing_tolerance(X):
    """Exact aliasing is found in float32; a column with 10% independent variation is not.

    In float32 a column is treated as aliased when its squared residual correlation on
    the earlier columns is below 1000 eps = 1.2e-4 (R^2 > 0.9999): such a column cannot be
    estimated to more than a digit or so in float32 anyway (use float64 for those designs).
    """
    rng = np.random.default_rng(3)
    y = data("poisson", X).astype(np.float32)
    dup = X.copy()
    dup[:, 2] = 3 * X[:, 1] - 1  # a linear combination of the intercept and column 1
    res = jg.fit(dup.astype(np.float32), y, jg.Poisson())
    np.testing.assert_array_equal(res.aliased, [False, False, True])
    assert int(res.status) == Status.ALIASED and np.isnan(res.coef[2])
    near = X.copy()
    near[:, 2] = X[:, 1] + 0.1 * np.std(X[:, 1]) * rng.normal(size=N)
    res = jg.fit(near.astype(np.float32), y, jg.Poisson())
    assert not np.any(res.aliased) and int(res.status) == Status.CONVERGED
    ref = sm.GLM(y.astype(float), near, family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=1e-5)


def test_fit_many_per_model_X_in_float32(X, monkeypatch):
    """fit_many with a per-model float32 X (staged on the host as X^T alone; float64 stages X
    too) computes in float32, equals each model's float32 fit alone, and reaches float32
    accuracy against statsmodels."""
    from jaxglm import batch
    staged = []
    put = batch._Staging.put
    monkeypatch.setattr(batch._Staging, "put", lambda self, slot, *a, **k: staged.append(slot) or put(self, slot, *a, **k))
    rng = np.random.default_rng(31)
    Xs = np.stack([X, X[::-1], np.column_stack([np.ones(N), rng.uniform(-1, 1, size=(N, 2))])])
    Y = np.stack([rng.poisson(np.exp(x @ np.array([0.5, 0.3, -0.2]))) for x in Xs]).astype(float)
    jg.fit_many(Xs, Y, jg.Poisson(), batch_size=2)
    assert set(staged) == {0, 1, "Xt"}  # float64: X, Y and X^T
    staged.clear()
    many = jg.fit_many(Xs.astype(np.float32), Y.astype(np.float32), jg.Poisson(), batch_size=2)
    assert set(staged) == {1, "Xt"}
    broken = Xs.astype(np.float32)
    broken[1, 7, 2] = np.inf  # found in the X^T staged alone; the other models are untouched
    bad = jg.fit_many(broken, Y.astype(np.float32), jg.Poisson(), batch_size=2)
    assert np.asarray(bad.status).tolist() == [Status.CONVERGED, Status.INVALID_INPUT, Status.CONVERGED]
    np.testing.assert_array_equal(np.asarray(bad.coef)[[0, 2]], np.asarray(many.coef)[[0, 2]])
    check_float32(many)
    for b in range(len(Xs)):
        alone = jg.fit(Xs[b].astype(np.float32), Y[b].astype(np.float32), jg.Poisson())
        np.testing.assert_allclose(many.coef[b], alone.coef, rtol=1e-6, atol=1e-6)
        ref = sm.GLM(Y[b], Xs[b], family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(many.coef[b], ref.params, rtol=0, atol=2e-6 * np.abs(ref.params).max())
        np.testing.assert_allclose(many.std_err[b], ref.bse, rtol=2e-5)
