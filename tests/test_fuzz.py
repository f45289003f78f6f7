"""Fuzz: >= 10,000 random, partly degenerate problems through ``fit_many``.

Each model is drawn as one of several kinds (well-posed, separated, all-zero counts,
duplicated/constant column, NaN or out-of-range y, negative or all-zero weights,
overflowing design, huge counts).  Checked for every model:

* ``converged`` is True exactly for the success codes, and a success never carries NaN
  (except the coefficients of aliased columns);
* the kinds with a known answer get it (invalid data -> INVALID_INPUT, a duplicated
  column -> ALIASED with that column flagged, separated data -> SEPARATION);
* good models are unaffected by bad neighbours: their results equal those of a batch
  of good models only, and (for a sample) of ``jg.fit`` alone.

CI size: 2 x 5,000 models of n = 20, p = 3 (one compile per family).  Set
``JAXGLM_FUZZ_MODELS`` (per family) for a larger run by hand, or run the ``slow`` test.
"""

import os
import time

import numpy as np
import pytest

import jaxglm as jg
from jaxglm.status import SUCCESS, Status

N, P = 20, 3
MODELS = int(os.environ.get("JAXGLM_FUZZ_MODELS", "5000"))
KINDS = ["good", "good", "good", "good", "good", "separated", "zero_y", "duplicate", "constant",
         "nan_y", "bad_y", "negative_weight", "zero_weights", "huge_x", "huge_y"]
INVALID = {"nan_y", "bad_y", "negative_weight", "zero_weights"}


def draw(rng, family, kind):
    X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
    eta = X @ rng.uniform(-0.7, 0.7, P)
    w = np.ones(N)
    if family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = rng.poisson(np.exp(eta + 0.5)).astype(float)
    if kind == "separated":
        if family == "binomial":
            y = (X[:, 1] > rng.normal(scale=0.3)).astype(float)
        else:  # a group with only zero counts
            X[:, 1] = (X[:, 1] > 0).astype(float)
            y = np.where(X[:, 1] == 1, 0.0, y + 1)
    elif kind == "zero_y":
        y = np.zeros(N) if family == "poisson" else np.ones(N)
    elif kind == "duplicate":
        X[:, 2] = X[:, 1] * rng.choice([-2.0, 0.5, 3.0])
    elif kind == "constant":
        X[:, 2] = rng.uniform(1, 5)
    elif kind == "nan_y":
        y[rng.integers(N)] = np.nan
    elif kind == "bad_y":
        y[rng.integers(N)] = -1.0 if family == "poisson" else 1.5
    elif kind == "negative_weight":
        w[rng.integers(N)] = -1.0
    elif kind == "zero_weights":
        w[:] = 0.0
    elif kind == "huge_x":
        X[:, 1] *= 1e200
    elif kind == "huge_y" and family == "poisson":
        y = np.floor(np.exp(400 + 0.5 * X[:, 1]) * rng.gamma(20, 1 / 20, N))
    return X, y, w


def problems(family, n_models, seed):
    rng = np.random.default_rng(seed)
    kinds = rng.choice(KINDS, size=n_models)
    X, Y, W = map(np.stack, zip(*(draw(rng, family, k) for k in kinds)))
    return kinds, X, Y, W


def run(family, n_models, seed):
    kinds, X, Y, W = problems(family, n_models, seed)
    fam = jg.Binomial() if family == "binomial" else jg.Poisson()
    start = time.perf_counter()
    res = jg.fit_many(X, Y, fam, weights=W)
    status = np.asarray(res.status)
    elapsed = time.perf_counter() - start
    return kinds, X, Y, W, fam, res, status, elapsed


def check_batch(family, n_models, seed):
    kinds, X, Y, W, fam, res, status, elapsed = run(family, n_models, seed)
    coef, se, dev = (np.asarray(a) for a in (res.coef, res.std_err, res.deviance))
    aliased, converged = np.asarray(res.aliased), np.asarray(res.converged)
    success = np.isin(status, [int(s) for s in SUCCESS])

    # honesty: converged <=> success; no NaN behind a success code
    np.testing.assert_array_equal(converged, success)
    kept = ~aliased
    assert np.all(np.isfinite(np.where(kept, coef, 0.0))[success])
    assert np.all(np.isfinite(np.where(kept, se, 0.0))[success])
    assert np.all(np.isfinite(dev[success]))
    assert np.all(np.isnan(coef[success][aliased[success]]))

    # known answers
    np.testing.assert_array_equal(status[np.isin(kinds, list(INVALID))], Status.INVALID_INPUT)
    assert not np.any(status[~np.isin(kinds, list(INVALID))] == Status.INVALID_INPUT)
    assert np.all(aliased[kinds == "duplicate", 2]) and not np.any(aliased[kinds == "good"])
    assert np.all(status[kinds == "duplicate"] != Status.CONVERGED)
    assert np.all(status[kinds == "separated"] == Status.SEPARATION)
    assert np.all(status[kinds == "zero_y"] == Status.SEPARATION)
    assert np.all(status[kinds == "huge_x"] == Status.NONFINITE)
    good = kinds == "good"
    assert np.mean(status[good] == Status.CONVERGED) > 0.95  # a few random draws are separated by chance

    # good models are unaffected by bad neighbours: a batch of good models only gives the same numbers
    alone = jg.fit_many(X[good], Y[good], fam, weights=W[good])
    np.testing.assert_array_equal(np.asarray(alone.status), status[good])
    for name in ("coef", "std_err", "deviance", "null_deviance", "n_iter"):
        a, b = np.asarray(getattr(alone, name)), np.asarray(getattr(res, name))[good]
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True, err_msg=name)
    return kinds, status, elapsed


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_fuzz_fit_many(family):
    kinds, status, elapsed = check_batch(family, MODELS, seed=2026)
    assert len(kinds) >= 5000
    degenerate = np.mean(kinds != "good")
    assert 0.5 < degenerate < 0.8
    print(f"\n{family}: {len(kinds)} models, {degenerate:.0%} degenerate, {elapsed:.2f} s (incl. compile); "
          f"{jg.status.counts(status)}")


def test_fuzz_good_models_equal_their_fit_alone():
    kinds, X, Y, W, fam, res, status, _ = run("binomial", 256, seed=7)  # 256: the same compiled chunk
    for b in np.flatnonzero(kinds == "good")[:5]:
        alone = jg.fit(X[b], Y[b], fam, weights=W[b])
        assert int(alone.status) == int(status[b])
        np.testing.assert_allclose(res.coef[b], alone.coef, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.std_err[b], alone.std_err, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_fuzz_fit_many_large(family):
    check_batch(family, 50_000, seed=99)
