"""predict and residuals against statsmodels (weights and offset), batched against single."""

import jax
import numpy as np
import pytest
import statsmodels.api as sm

import jaxglm as jg

N, P = 120, 3


@pytest.fixture(scope="module")
def gamma_fit():
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
    offset = 0.1 * rng.normal(size=N)
    w = rng.uniform(0.5, 2.0, N)
    y = rng.gamma(2.0, np.exp(X @ [0.5, 0.3, -0.2] + offset) / 2.0)
    res = jg.fit(X, y, jg.Gamma(link="log"), weights=w, offset=offset, tol=1e-13)
    ref = sm.GLM(y, X, family=sm.families.Gamma(sm.families.links.Log()), var_weights=w,
                 offset=offset).fit(tol=1e-13)
    return X, y, w, offset, res, ref


@pytest.mark.parametrize("kind, attr", [("response", "resid_response"), ("pearson", "resid_pearson"),
                                        ("deviance", "resid_deviance"), ("working", "resid_working")])
def test_residuals_match_statsmodels(gamma_fit, kind, attr):
    X, y, w, offset, res, ref = gamma_fit
    got = jg.residuals(res, X, y, weights=w, offset=offset, kind=kind)
    np.testing.assert_allclose(got, getattr(ref, attr), rtol=1e-6, atol=1e-9)


def test_residual_squares_sum_to_deviance_and_pearson(gamma_fit):
    X, y, w, offset, res, _ = gamma_fit
    dev = jg.residuals(res, X, y, weights=w, offset=offset, kind="deviance")
    pear = jg.residuals(res, X, y, weights=w, offset=offset, kind="pearson")
    np.testing.assert_allclose(np.sum(dev**2), res.deviance, rtol=1e-10)
    np.testing.assert_allclose(np.sum(pear**2), res.pearson_chi2, rtol=1e-10)


def test_predict_mean_and_linear(gamma_fit):
    X, _, _, offset, res, ref = gamma_fit
    np.testing.assert_allclose(jg.predict(res, X, offset=offset), ref.fittedvalues, rtol=1e-7, atol=1e-8)
    eta = jg.predict(res, X, offset=offset, which="linear")
    np.testing.assert_allclose(eta, X @ ref.params + offset, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(jg.predict(res, X, which="linear"), X @ ref.params, rtol=1e-7, atol=1e-8)


def test_batched_predict_and_residuals_equal_single(gamma_fit):
    X, y, w, offset, res, _ = gamma_fit
    Y = np.stack([y, y * 1.5])
    batch = jax.vmap(lambda yy: jg.fit(X, yy, jg.Gamma(link="log"), weights=w, offset=offset, tol=1e-13))(Y)
    single = jg.fit(X, Y[1], jg.Gamma(link="log"), weights=w, offset=offset, tol=1e-13)
    got = jg.residuals(batch, X, Y, weights=w, offset=offset, kind="pearson")
    np.testing.assert_allclose(got[1], jg.residuals(single, X, Y[1], weights=w, offset=offset, kind="pearson"),
                               rtol=1e-9)
    Xb = np.stack([X, X])
    np.testing.assert_allclose(jg.predict(batch, Xb, offset=offset)[0], jg.predict(res, X, offset=offset), rtol=1e-9)


def test_unknown_kinds_raise(gamma_fit):
    X, y, _, _, res, _ = gamma_fit
    with pytest.raises(ValueError, match="valid values are 'response'"):
        jg.residuals(res, X, y, kind="studentized")
    with pytest.raises(ValueError, match="prediction type"):
        jg.predict(res, X, which="response")
