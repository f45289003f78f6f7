"""summary: R's layout, numbers taken from the statsmodels reference fit."""

import numpy as np
import pytest
import statsmodels.api as sm

import jaxglm as jg


@pytest.fixture(scope="module")
def poisson_fit():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
    y = rng.poisson(np.exp(X @ [0.2, 0.4, 0.0])).astype(float)
    return jg.fit(X, y, jg.Poisson()), sm.GLM(y, X, family=sm.families.Poisson()).fit()


def test_summary_layout_and_numbers(poisson_fit):
    res, ref = poisson_fit
    text = jg.summary(res, names=["(Intercept)", "dose", "noise"])
    assert "Estimate Std. Error z value Pr(>|z|)" in text
    assert "(Dispersion parameter for poisson family taken to be 1)" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith(("(Int", "dose", "noise"))}
    for name, b, se in zip(["(Intercept)", "dose", "noise"], ref.params, ref.bse):
        np.testing.assert_allclose(float(rows[name][1]), b, rtol=1e-4)
        np.testing.assert_allclose(float(rows[name][2]), se, rtol=1e-3)
    assert f"Residual deviance: {ref.deviance:.{5 - len(str(int(ref.deviance)))}f}" in text
    assert f"on {int(ref.df_resid)}  degrees of freedom" in text
    assert "Number of Fisher Scoring iterations" in text


def test_summary_t_table_for_estimated_scale():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    res = jg.fit(X, X @ [1.0, 2.0] + rng.normal(size=50))
    text = jg.summary(res)
    assert "t value Pr(>|t|)" in text and "x1" in text
    assert f"taken to be {float(res.scale):.7g})" in text


def test_summary_rejects_batches_and_wrong_names(poisson_fit):
    res, _ = poisson_fit
    with pytest.raises(ValueError, match="3 coefficients"):
        jg.summary(res, names=["a"])
    import jax
    batch = jax.tree.map(lambda a: np.stack([a, a]) if hasattr(a, "shape") else a, res)
    with pytest.raises(ValueError, match="single model"):
        jg.summary(batch)


def test_summary_reports_bad_status():
    X = np.column_stack([np.ones(6), [0.0, 1, 2, 3, 4, 5]])
    y = np.array([0.0, 0, 0, 1, 1, 1])
    text = jg.summary(jg.fit(X, y, jg.Binomial()))
    assert "Status: SEPARATION" in text
