"""Property-based tests over random well-posed problems (hypothesis, derandomized for CI).

Fixed shapes (n = 40, p = 3, float64; the same compiled fits as tests/test_degenerate.py),
so each family compiles once.  Properties: finite outputs and convergence, score ~ 0 at
the optimum, invariance to permuting rows, scaling a column scales its coefficient
inversely, and a vmapped batch (fit_many) equals a loop of single fits.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import jaxglm as jg
from jaxglm.status import Status

N, P = 40, 3
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
FAMILIES = {"poisson": jg.Poisson, "binomial": jg.Binomial}


def problem(seed, family):
    """A well-posed problem: intercept + 2 covariates, moderate effects, y from the model."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1)) * rng.uniform(0.5, 2.0, P - 1)])
    beta = rng.uniform(-0.5, 0.5, P) / np.r_[1.0, np.std(X[:, 1:], axis=0)]
    mean_eta = X @ beta
    if family == "poisson":
        y = rng.poisson(np.exp(mean_eta + 0.5)).astype(float)
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-mean_eta))).astype(float)
    return X, y


def fit_ok(X, y, family):
    res = jg.fit(X, y, FAMILIES[family](), tol=1e-12)
    assume(int(res.status) == Status.CONVERGED)  # a rare chance separation is not this test's business
    return res


seeds = st.integers(0, 2**31 - 1)
families = st.sampled_from(sorted(FAMILIES))


@SETTINGS
@given(seed=seeds, family=families)
def test_finite_and_score_zero_at_the_optimum(seed, family):
    X, y = problem(seed, family)
    res = fit_ok(X, y, family)
    assert bool(res.converged)
    for field in ("coef", "std_err", "p_value", "deviance", "null_deviance", "loglik", "aic"):
        assert np.all(np.isfinite(np.asarray(getattr(res, field)))), field
    mu = np.exp(X @ np.asarray(res.coef))
    mu = mu if family == "poisson" else mu / (1 + mu)
    score = X.T @ (y - mu)  # canonical links: d loglik / d beta = X^T (y - mu)
    assert np.max(np.abs(score)) < 1e-6 * (np.abs(X).T @ (np.abs(y) + mu)).max()
    assert float(res.deviance) <= float(res.null_deviance) + 1e-9


@SETTINGS
@given(seed=seeds, family=families, perm_seed=st.integers(0, 1000))
def test_permuting_rows_changes_nothing(seed, family, perm_seed):
    X, y = problem(seed, family)
    res = fit_ok(X, y, family)
    perm = np.random.default_rng(perm_seed).permutation(N)
    other = jg.fit(X[perm], y[perm], FAMILIES[family](), tol=1e-12)
    np.testing.assert_allclose(other.coef, res.coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(other.std_err, res.std_err, rtol=1e-8)
    np.testing.assert_allclose(other.deviance, res.deviance, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(seed=seeds, family=families, column=st.integers(1, P - 1), log_c=st.floats(-3, 3))
def test_scaling_a_column_scales_its_coefficient_inversely(seed, family, column, log_c):
    X, y = problem(seed, family)
    res = fit_ok(X, y, family)
    c = 10.0 ** log_c
    Xc = X.copy()
    Xc[:, column] *= c
    scaled = jg.fit(Xc, y, FAMILIES[family](), tol=1e-12)
    expect = np.asarray(res.coef).copy()
    expect[column] /= c
    np.testing.assert_allclose(scaled.coef, expect, rtol=1e-7, atol=1e-12)
    se = np.asarray(res.std_err).copy()
    se[column] /= c
    np.testing.assert_allclose(scaled.std_err, se, rtol=1e-7)
    np.testing.assert_allclose(scaled.statistic, res.statistic, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(scaled.deviance, res.deviance, rtol=1e-10)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=seeds)
def test_vmap_equals_a_loop(family, seed):
    """fit_many (a vmap) of 256 problems with n = 20 (the compiled chunk of tests/test_fuzz.py)
    equals jg.fit of each alone (checked for 8 of them)."""
    from test_fuzz import INVALID, problems
    kinds, X, Y, W = problems(family, 256, seed)
    batch = jg.fit_many(X, Y, FAMILIES[family](), weights=W)
    valid = np.flatnonzero(~np.isin(kinds, list(INVALID)))  # jg.fit raises on those (tested elsewhere)
    for b in np.random.default_rng(seed).choice(valid, 8, replace=False):
        alone = jg.fit(X[b], Y[b], FAMILIES[family](), weights=W[b])
        assert int(batch.status[b]) == int(alone.status), kinds[b]
        for name in ("coef", "std_err", "deviance"):
            np.testing.assert_allclose(getattr(batch, name)[b], getattr(alone, name), rtol=1e-10, atol=1e-12,
                                       equal_nan=True, err_msg=f"{name} {kinds[b]}")
