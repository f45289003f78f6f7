"""fit_many: batched fits equal the single fits; a bad model never disturbs the others.

References: ``jg.fit`` per model (the "fitted alone" semantics) and statsmodels
GLM (independent).  Shapes are small and shared so each compiled program is
built once per module.
"""


import jax
import numpy as np
import pytest
import statsmodels.api as sm

import jaxglm as jg
from compile_counter import count_compiles
from jaxglm import batch
from jaxglm.status import Status


B, N, P = 6, 60, 3
CHUNK = 4  # 6 models in chunks of 4: the last chunk is padded


def _design(rng, n=N):
    return np.column_stack([np.ones(n), rng.normal(size=(n, P - 1))])


@pytest.fixture(scope="module")
def poisson_shared():
    rng = np.random.default_rng(1)
    X = _design(rng)
    coefs = rng.normal(0, 0.3, size=(B, P)) + np.array([0.5, 0, 0])
    Y = rng.poisson(np.exp(coefs @ X.T)).astype(float)
    return X, Y, jg.fit_many(X, Y, jg.Poisson(), batch_size=CHUNK)


def test_shared_X_matches_statsmodels(poisson_shared):
    X, Y, res = poisson_shared
    assert res.coef.shape == (B, P) and res.cov.shape == (B, P, P)
    for b in range(B):
        ref = sm.GLM(Y[b], X, family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6)
        np.testing.assert_allclose(res.std_err[b], ref.bse, rtol=1e-6)
        np.testing.assert_allclose(res.deviance[b], ref.deviance, rtol=1e-8)
        np.testing.assert_allclose(res.null_deviance[b], ref.null_deviance, rtol=1e-8)
    assert np.all(np.asarray(res.status) == Status.CONVERGED)


def test_shared_X_equals_fit_alone(poisson_shared):
    X, Y, res = poisson_shared
    for b in range(B):
        alone = jg.fit(X, Y[b], jg.Poisson())
        for field in ("coef", "cov", "deviance", "null_deviance", "loglik", "aic"):
            np.testing.assert_allclose(getattr(res, field)[b], getattr(alone, field), rtol=1e-10, atol=1e-14)
        assert int(res.n_iter[b]) == int(alone.n_iter) and int(res.status[b]) == int(alone.status)


def test_no_recompile_and_progress(poisson_shared, capsys):
    X, Y, _ = poisson_shared
    with count_compiles() as compiles:
        res = jg.fit_many(X, Y[::-1].copy(), jg.Poisson(), batch_size=CHUNK, progress=True)
        res.coef.block_until_ready()
    assert compiles == [], "a second call with the same shapes recompiled"
    err = capsys.readouterr().err
    assert "fit_many" in err and f"{B}/{B}" in err
    np.testing.assert_allclose(res.coef[::-1], poisson_shared[2].coef, rtol=1e-12)


@pytest.fixture(scope="module")
def binomial_bad():
    """Per-model X; rows 1, 2, 4 are bad (NaN, separated, y out of range)."""
    rng = np.random.default_rng(2)
    X = np.stack([_design(rng) for _ in range(B)])
    eta = np.einsum("bnp,p->bn", X, np.array([0.2, 0.8, -0.5]))
    good = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    bad = good.copy()
    bad[1, 7] = np.nan
    bad[2] = (X[2, :, 1] > 0).astype(float)  # perfectly separated by column 1
    bad[4, 3] = 1.5
    fam = jg.Binomial()
    return X, good, bad, jg.fit_many(X, good, fam, batch_size=CHUNK), jg.fit_many(X, bad, fam, batch_size=CHUNK)


def test_bad_models_get_their_own_status(binomial_bad):
    *_, res = binomial_bad
    status = np.asarray(res.status)
    assert status[1] == Status.INVALID_INPUT
    assert status[4] == Status.INVALID_INPUT
    assert np.all(status[[0, 3, 5]] == Status.CONVERGED)
    assert not np.any(np.asarray(res.converged)[[1, 4]])


def test_bad_models_leave_neighbours_unchanged(binomial_bad):
    X, good, bad, res_good, res_bad = binomial_bad
    for b in (0, 3, 5):
        for field in ("coef", "cov", "deviance", "null_deviance", "n_iter", "status"):
            np.testing.assert_array_equal(getattr(res_bad, field)[b], getattr(res_good, field)[b])
        ref = sm.GLM(good[b], X[b], family=sm.families.Binomial()).fit(tol=1e-12)
        np.testing.assert_allclose(res_bad.coef[b], ref.params, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_separation_test_for_a_few_models_of_a_chunk(dtype):
    """With separated models at places 1, 2 and 6 of a chunk of 8, each model's status,
    estimates and deviance are those of its fit alone, and statsmodels' for the models that
    are not separated.  In float32 the separation test runs for the models with fitted means
    near the edge alone, in groups (``cond_any(..., compact=True)``; groups of 2, so two
    groups here); in float64 for the whole chunk."""
    from jaxglm.fit import compact_separation_test
    assert compact_separation_test(dtype) == (dtype == np.float32)
    rng = np.random.default_rng(12)
    n_models = 8
    X = np.stack([_design(rng) for _ in range(n_models)]).astype(dtype)
    eta = np.einsum("bnp,p->bn", X, np.array([0.2, 0.8, -0.5]))
    Y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(dtype)
    separated = [1, 2, 6]
    Y[separated] = (X[separated, :, 1] > 0).astype(dtype)
    res = jg.fit_many(X, Y, jg.Binomial(), batch_size=n_models)
    status = np.asarray(res.status)
    np.testing.assert_array_equal(np.flatnonzero(status == Status.SEPARATION), separated)
    tol = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    for b in range(n_models):
        alone = jg.fit(X[b], Y[b], jg.Binomial())
        assert int(alone.status) == status[b]
        np.testing.assert_allclose(res.coef[b], alone.coef, **tol)
        np.testing.assert_allclose(res.deviance[b], alone.deviance, **tol)
        if b not in separated:
            ref = sm.GLM(Y[b].astype(float), X[b].astype(float), family=sm.families.Binomial()).fit(tol=1e-12)
            np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6 if dtype == np.float64 else 1e-4)


def test_per_model_weights_offset_and_family_parameter():
    """(B, n, p) X, (B, n) weights and offset, one NegativeBinomial alpha per model."""
    rng = np.random.default_rng(3)
    X = np.stack([_design(rng) for _ in range(B)])
    weights = rng.integers(1, 4, size=(B, N)).astype(float)
    offset = rng.normal(0, 0.2, size=(B, N))
    alphas = np.linspace(0.3, 1.5, B)
    mu = np.exp(np.einsum("bnp,p->bn", X, np.array([0.5, 0.3, -0.2])) + offset)
    Y = rng.negative_binomial(1 / alphas[:, None], 1 / (1 + alphas[:, None] * mu)).astype(float)
    res = jg.fit_many(X, Y, jg.NegativeBinomial(alpha=alphas), weights=weights, offset=offset,
                      batch_size=CHUNK, tol=1e-12)
    np.testing.assert_allclose(np.asarray(res.family.alpha), alphas)
    for b in range(B):
        ref = sm.GLM(Y[b], X[b], family=sm.families.NegativeBinomial(alpha=alphas[b]),
                     offset=offset[b], var_weights=weights[b]).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(res.std_err[b], ref.bse, rtol=1e-6)
        np.testing.assert_allclose(res.deviance[b], ref.deviance, rtol=1e-8)


@pytest.mark.parametrize("kwargs, message", [
    (dict(X=np.ones((5, 2)), Y=np.ones(5)), "Y must be"),
    (dict(X=np.ones((4, 2)), Y=np.ones((3, 5))), "X must have shape"),
    (dict(X=np.ones((2, 5, 2)), Y=np.ones((3, 5))), "X must have shape"),
    (dict(X=np.ones(5), Y=np.ones((3, 5))), "X must be"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), weights=np.ones(4)), "weights must be"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), offset=np.ones((2, 5))), "offset must be"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), l2=np.ones(3)), "l2 must be"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), batch_size=0), "batch_size"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), workers=0), "workers"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), solver="bfgs"), "unknown solver"),
    (dict(X=np.ones((5, 2)), Y=np.ones((3, 5)), family=jg.NegativeBinomial(alpha=np.ones(2))),
     "family parameter"),
])
def test_static_mistakes_raise(kwargs, message):
    kwargs = dict(kwargs)
    X, Y = kwargs.pop("X"), kwargs.pop("Y")
    family = kwargs.pop("family", jg.Poisson())
    with pytest.raises(ValueError, match=message):
        jg.fit_many(X, Y, family, **kwargs)


def test_staging_buffers_reused_across_many_chunks():
    """Nine models in chunks of 2: five chunks through the three reused host staging buffers
    (each handed to XLA without a copy). Every model equals its fit alone; the inputs are
    left untouched."""
    rng = np.random.default_rng(7)
    X = np.stack([_design(rng) for _ in range(9)])
    Y = rng.poisson(np.exp(np.einsum("bnp,p->bn", X, [0.4, 0.2, -0.3]))).astype(float)
    X_before, Y_before = X.copy(), Y.copy()
    alone = [jg.fit(X[b], Y[b], jg.Poisson()) for b in range(9)]
    for workers in (1, 2):  # one thread, three buffers per input; two threads, one each
        res = jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=workers)
        for b in range(9):
            np.testing.assert_allclose(res.coef[b], alone[b].coef, rtol=1e-10)
            np.testing.assert_allclose(res.deviance[b], alone[b].deviance, rtol=1e-10)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(Y, Y_before)


def test_staging_hands_out_one_array_per_cpu_buffer():
    """On one CPU device a buffer's jax array is made once and holds each chunk copied into
    the buffer since (XLA reads the buffer in place: ``* 1`` is computed by XLA); on rows past
    the end the last row repeats."""
    staging = batch._Staging(batch._input_sharding(tuple(jax.devices("cpu")[:1])), depth=1)
    A = np.arange(5 * 3 * 2, dtype=float).reshape(5, 3, 2)
    first = staging.put("X", 0, A, 0, 2, transpose=True)
    np.testing.assert_array_equal(first * 1, A[0:2].transpose(0, 2, 1))
    again = staging.put("X", 1, A, 4, 2, transpose=True)
    assert again is first
    np.testing.assert_array_equal(again * 1, A[[4, 4]].transpose(0, 2, 1))


def test_per_model_X_without_staged_transpose_equals_with(monkeypatch):
    """A per-model X past ``MAX_TRANSPOSED_ELEMENTS`` is fitted on X as given, with no X^T staged
    on the host: the same results as the staged X^T path, and both equal statsmodels."""
    from jaxglm.solvers import gram
    rng = np.random.default_rng(8)
    X = np.stack([_design(rng) for _ in range(5)])
    Y = rng.poisson(np.exp(np.einsum("bnp,p->bn", X, [0.4, 0.2, -0.3]))).astype(float)
    staged = jg.fit_many(X, Y, jg.Poisson(), batch_size=CHUNK)
    monkeypatch.setattr(gram, "MAX_TRANSPOSED_ELEMENTS", N * P - 1)
    plain = jg.fit_many(X, Y, jg.Poisson(), batch_size=CHUNK)
    for field in ("coef", "std_err", "deviance", "null_deviance"):
        np.testing.assert_allclose(getattr(plain, field), getattr(staged, field), rtol=1e-12)
    np.testing.assert_array_equal(plain.status, staged.status)
    for b in range(len(X)):
        ref = sm.GLM(Y[b], X[b], family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(plain.coef[b], ref.params, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(plain.std_err[b], ref.bse, rtol=1e-6)


@pytest.mark.parametrize("whole", [True, False], ids=["counts", "non-integer"])
def test_whole_data_mark_only_for_whole_data(monkeypatch, poisson_shared, whole):
    """Count data compile the table lookups alone (the family is marked on the host); one
    non-integer y keeps the checked path.  Either way each model equals statsmodels, and the
    result's family is the one given."""
    from jaxglm import batch
    X, Y, _ = poisson_shared
    Y = Y.copy()
    if not whole:
        Y[2, 5] += 0.5
    seen = []
    mark = batch.with_whole_data
    monkeypatch.setattr(batch, "with_whole_data", lambda *a: seen.append(mark(*a)) or seen[-1])
    res = jg.fit_many(X, Y, jg.Poisson(), batch_size=CHUNK)
    assert [f.whole_data for f in seen] == [whole]
    assert not res.family.whole_data
    assert jax.tree_util.tree_structure(res.family) == jax.tree_util.tree_structure(jg.Poisson())
    for b in range(B):
        ref = sm.GLM(Y[b], X, family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6)
        np.testing.assert_allclose(res.deviance[b], ref.deviance, rtol=1e-8)
        np.testing.assert_allclose(res.loglik[b], ref.llf, rtol=1e-10)


@pytest.fixture(scope="module")
def nine_models():
    """Nine Poisson models with one X each (chunks of 2: five chunks, the last padded); model 4
    has a NaN response (INVALID_INPUT)."""
    rng = np.random.default_rng(9)
    X = np.stack([_design(rng) for _ in range(9)])
    Y = rng.poisson(np.exp(np.einsum("bnp,p->bn", X, [0.4, 0.2, -0.3]))).astype(float)
    Y[4, 11] = np.nan
    return X, Y


def test_workers_give_what_one_thread_gives(nine_models, capsys):
    """Chunks fitted from several threads (the CPU default) equal those fitted from one thread,
    every field bit for bit, for 2 and 4 workers (4 is more than the chunks each takes in
    turn); the progress bar ends at every model; the clean models equal statsmodels."""
    X, Y = nine_models
    one = jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=1)
    for workers in (2, 4):
        many = jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=workers, progress=True)
        for field in ("coef", "cov", "deviance", "null_deviance", "loglik", "n_iter", "status"):
            np.testing.assert_array_equal(getattr(many, field), getattr(one, field))
        assert "9/9" in capsys.readouterr().err
    assert int(one.status[4]) == Status.INVALID_INPUT
    for b in (0, 3, 8):
        ref = sm.GLM(Y[b], X[b], family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(one.coef[b], ref.params, rtol=1e-6)


def test_workers_compile_once_and_raise_a_worker_error(nine_models, monkeypatch):
    """Several workers starting on a program not yet compiled compile it once, as one thread
    does, and a second call compiles nothing; an error in a worker (here: staging chunk 3) is
    raised by ``fit_many``.  (The property, not the mechanism: with the workers' wait for the
    first chunk's call removed, JAX on this machine compiled once too.)"""
    X, Y = nine_models
    X, Y = X[:, :-1], Y[:, :-1]  # shapes no other test compiles
    for cache_clear in (batch._chunk_runner.cache_clear, jax.clear_caches):
        cache_clear()
    with count_compiles() as first:
        jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=1).coef.block_until_ready()
    for cache_clear in (batch._chunk_runner.cache_clear, jax.clear_caches):
        cache_clear()
    with count_compiles() as threaded:
        jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=3).coef.block_until_ready()
    assert len(threaded) == len(first) > 0
    with count_compiles() as again:
        jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=3).coef.block_until_ready()
    assert again == []
    put = batch._Staging.put

    def failing_put(self, slot, number, *args, **kwargs):
        if number == 3:
            raise RuntimeError("staging failed")
        return put(self, slot, number, *args, **kwargs)
    monkeypatch.setattr(batch._Staging, "put", failing_put)
    with pytest.raises(RuntimeError, match="staging failed"):
        jg.fit_many(X, Y, jg.Poisson(), batch_size=2, workers=3)


def test_default_chunk_holds_a_fixed_size_of_designs():
    """On CPU a chunk of per-model designs holds about 1 MiB of X (13 float64 or 26 float32
    models of n = 1000, p = 10), clipped to [4, 512] models; a shared X takes 96 models; an
    accelerator 1024."""
    from jaxglm.batch import _default_chunk
    design = lambda shape, dtype=np.float64: np.broadcast_to(np.zeros((), dtype), shape)
    assert _default_chunk("cpu", design((7, 1000, 10))) == 13
    assert _default_chunk("cpu", design((7, 1000, 10), np.float32)) == 26
    assert _default_chunk("cpu", design((7, 20, 3))) == 512
    assert _default_chunk("cpu", design((7, 10**6, 10))) == 4
    assert _default_chunk("cpu", design((1000, 10))) == 96
    assert _default_chunk("gpu", design((7, 1000, 10))) == 1024


def test_packed_chunks_unpack_to_every_field_of_fit():
    """Chunks come back packed (one array per dtype) and are unpacked: every field has fit's
    dtype and shape and value, a per-model family parameter included, and one runner serves
    designs of 2 and 3 columns in turn (each with the layout of its own shapes)."""
    rng = np.random.default_rng(11)
    alphas = np.array([0.3, 0.6, 0.9, 1.2, 1.5])
    for p in (2, 3, 2):
        X = np.stack([np.column_stack([np.ones(N), rng.normal(size=(N, p - 1))]) for _ in range(5)])
        Y = rng.poisson(2.0, size=(5, N)).astype(float)
        many = jg.fit_many(X, Y, jg.NegativeBinomial(alpha=alphas), batch_size=2)
        for b in (0, 4):
            alone = jg.fit(X[b], Y[b], jg.NegativeBinomial(alpha=alphas[b]))
            for field in many._fields[:-1]:
                got, want = np.asarray(getattr(many, field)[b]), np.asarray(getattr(alone, field))
                assert got.dtype == want.dtype and got.shape == want.shape, field
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=field)
            assert float(many.family.alpha[b]) == alphas[b]
