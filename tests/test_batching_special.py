"""``cond_any`` (a cond that stays a branch under vmap), its users ``log_factorial`` and
``xlogx``, and the float-reduction ``any_true`` / ``all_true``.

References: ``lax.cond`` per element, ``scipy.special.gammaln``/``digamma``, numpy's any/all.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from scipy.special import digamma, gammaln, xlogy

from jaxglm._batching import all_true, any_true, compact_group, cond_any
from jaxglm._special import TABLE_SIZE, log_factorial, whole_in_table, xlogx


def expensive(x, y):
    jax.debug.callback(lambda: CALLS.append(1))
    return jnp.sin(x) * y


def cheap(x, y):
    return x + y


CALLS = []


def branchy(x, y):
    return cond_any(x > 2, expensive, cheap, x, y)


def test_cond_any_equals_lax_cond_per_element():
    x, y = jnp.arange(6.0), jnp.linspace(1, 2, 6)
    want = jax.vmap(lambda x, y: lax.cond(x > 2, expensive, cheap, x, y))(x, y)
    np.testing.assert_array_equal(jax.vmap(branchy)(x, y), want)
    np.testing.assert_array_equal(jax.vmap(branchy, in_axes=(0, None))(x, y[0]), want.at[:].set(
        jax.vmap(lambda x: lax.cond(x > 2, expensive, cheap, x, y[0]))(x)))
    np.testing.assert_array_equal(jax.vmap(jax.vmap(branchy))(x.reshape(2, 3), y.reshape(2, 3)),
                                  want.reshape(2, 3))
    assert float(branchy(3.0, 1.0)) == pytest.approx(np.sin(3.0))


def test_cond_any_skips_the_branch_when_no_element_needs_it():
    f = jax.jit(jax.vmap(branchy))
    CALLS.clear()
    jax.block_until_ready(f(jnp.zeros(4), jnp.ones(4)))
    jax.effects_barrier()
    assert CALLS == []
    jax.block_until_ready(f(jnp.array([0.0, 3.0, 0.0, 0.0]), jnp.ones(4)))
    jax.effects_barrier()
    assert CALLS  # run once for the whole batch


def test_cond_any_passes_no_derivative():
    grad = jax.grad(lambda x: jnp.sum(jax.vmap(branchy)(x, jnp.ones(3))) + jnp.sum(x))(jnp.arange(3.0) + 2)
    np.testing.assert_array_equal(grad, np.ones(3))


def pair_branch(x, y, scale):
    """A branch with a tuple output of two dtypes and an unbatched operand (``scale``); its
    callback takes x, so under vmap it is called once per model."""
    jax.debug.callback(lambda _: CALLS.append(1), x)
    return jnp.sin(x) * y * scale, jnp.floor(x).astype(jnp.int32) + 7


def pair_other(x, y, scale):
    return x + y, jnp.int32(-1)


def compact_branchy(x, y, scale):
    return cond_any(x > 2, pair_branch, pair_other, x, y, scale, compact=True)


@pytest.mark.parametrize("size", [1, 5, 8, 9])
def test_compact_cond_any_equals_lax_cond_per_element(size):
    """Every pattern of flagged models (none, one, a group's worth, one more, all), in batches
    whose size is and is not a multiple of the group size: each model gets lax.cond's value."""
    rng = np.random.default_rng(size)
    group = compact_group(size)
    f = jax.jit(jax.vmap(compact_branchy, in_axes=(0, 0, None)))
    alone = jax.jit(jax.vmap(lambda x, y, s: lax.cond(x > 2, pair_branch, pair_other, x, y, s),
                             in_axes=(0, 0, None)))
    for n_flagged in sorted({0, 1, min(group, size), min(group + 1, size), size}):
        x = np.where(np.arange(size) < n_flagged, 3.0, 0.0) + rng.uniform(0, 1, size)
        x = jnp.asarray(rng.permutation(x))
        y = jnp.asarray(rng.uniform(1, 2, size))
        got, want = f(x, y, 1.5), alone(x, y, 1.5)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    nested = jax.vmap(jax.vmap(compact_branchy, in_axes=(0, 0, None)), in_axes=(0, 0, None))
    x, y = jnp.arange(12.0).reshape(3, 4) % 5, jnp.ones((3, 4))
    np.testing.assert_array_equal(nested(x, y, 2.0)[0], alone(x.ravel(), y.ravel(), 2.0)[0].reshape(3, 4))


def test_compact_cond_any_runs_the_branch_for_the_flagged_models_alone():
    """Batch of 8 (groups of 2): two flagged models are one group, the branch runs for 2 models,
    not 8; three flagged are two groups, 4 runs (the second group's empty place repeats a model,
    whose row is not used)."""
    f = jax.jit(jax.vmap(compact_branchy, in_axes=(0, 0, None)))
    assert compact_group(8) == 2
    for flagged, runs in (([], 0), ([1, 6], 2), ([0, 3, 7], 4)):
        x = jnp.zeros(8).at[jnp.asarray(flagged, int)].set(5.0)
        CALLS.clear()
        jax.block_until_ready(f(x, jnp.ones(8), 1.0))
        jax.effects_barrier()
        assert len(CALLS) == runs


def test_compact_cond_any_works_in_memory_linear_in_the_batch():
    """Under a user's vmap a batch may hold many thousands of models: no intermediate of the
    compact rule (ordering the flagged models, gathering, putting rows back) is larger than a
    few values per model, at any depth of the traced program."""
    from jax.extend.core import jaxprs_in_params

    def largest(jaxpr):
        sizes = [int(np.prod(v.aval.shape)) for e in jaxpr.eqns for v in e.outvars if hasattr(v.aval, "shape")]
        subs = [largest(sub) for e in jaxpr.eqns for sub in jaxprs_in_params(e.params)]
        return max(sizes + subs + [0])

    size = 1000
    traced = jax.make_jaxpr(jax.vmap(compact_branchy, in_axes=(0, 0, None)))(jnp.zeros(size), jnp.ones(size), 1.0)
    assert largest(traced.jaxpr) <= 2 * size


@pytest.mark.parametrize("values", [np.arange(50.0), np.arange(50.0) + 0.5,
                                    np.array([0.0, 1.0, TABLE_SIZE - 1.0, TABLE_SIZE, 1e5, 7.25])])
def test_log_factorial_matches_gammaln(values):
    np.testing.assert_allclose(log_factorial(jnp.asarray(values)), gammaln(values + 1), rtol=1e-14, atol=1e-13)


def test_log_factorial_batched_models_each_exact():
    """A batch mixing whole-number models with one that is not: every row equals gammaln."""
    K = np.stack([np.arange(30.0), np.arange(30.0) + 0.25, 3 * np.arange(30.0)])
    np.testing.assert_allclose(jax.vmap(log_factorial)(jnp.asarray(K)), gammaln(K + 1), rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(jax.vmap(log_factorial)(jnp.asarray(K[[0, 2]])), gammaln(K[[0, 2]] + 1),
                               rtol=1e-14, atol=1e-13)


def test_log_factorial_derivative_is_digamma():
    k = jnp.asarray([0.0, 3.0, 10.0, 2.5])
    np.testing.assert_allclose(jax.grad(lambda k: jnp.sum(log_factorial(k)))(k), digamma(np.asarray(k) + 1),
                               rtol=1e-13)
    tangent = jax.jvp(jax.vmap(log_factorial), (k.reshape(2, 2),), (jnp.ones((2, 2)),))[1]
    np.testing.assert_allclose(tangent.ravel(), digamma(np.asarray(k) + 1), rtol=1e-13)


def test_log_factorial_float32():
    k = jnp.arange(20, dtype=jnp.float32)
    out = log_factorial(k)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, gammaln(np.arange(20.0) + 1), rtol=1e-6)


@pytest.mark.parametrize("values", [np.arange(50.0), np.array([0.0, 1.0, 0.0, 1.0]), np.arange(50.0) + 0.5,
                                    np.array([0.0, 1.0, TABLE_SIZE - 1.0, TABLE_SIZE, 1e5, 0.25, 1e-300])])
def test_xlogx_matches_scipy(values):
    np.testing.assert_allclose(xlogx(jnp.asarray(values)), xlogy(values, values), rtol=1e-14, atol=1e-300)


def test_xlogx_batched_models_each_exact():
    """Rows of whole numbers, 0/1 data and fractions under vmap: every row equals x log x."""
    X = np.stack([np.arange(30.0), np.arange(30.0) % 2, np.linspace(0, 1, 30), 7 * np.arange(30.0)])
    np.testing.assert_allclose(jax.vmap(xlogx)(jnp.asarray(X)), xlogy(X, X), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(jax.vmap(xlogx)(jnp.asarray(X[[0, 1, 3]])), xlogy(X[[0, 1, 3]], X[[0, 1, 3]]),
                               rtol=1e-14, atol=1e-300)


def test_xlogx_derivative_is_log_plus_one():
    x = jnp.asarray([1.0, 3.0, 10.0, 2.5])
    np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(xlogx(x)))(x), np.log(np.asarray(x)) + 1, rtol=1e-14)
    tangent = jax.jvp(jax.vmap(xlogx), (x.reshape(2, 2),), (jnp.ones((2, 2)),))[1]
    np.testing.assert_allclose(tangent.ravel(), np.log(np.asarray(x)) + 1, rtol=1e-14)


def test_xlogx_float32():
    out = xlogx(jnp.arange(20, dtype=jnp.float32))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, xlogy(np.arange(20.0), np.arange(20.0)), rtol=1e-6)


@pytest.mark.parametrize("shape, axis", [((7,), None), ((5, 300), 1), ((5, 300), 0), ((5, 300), None),
                                         ((0,), None), ((4, 0), 1)])
def test_any_true_all_true_equal_numpy(shape, axis):
    rng = np.random.default_rng(11)
    for density in (0.0, 0.002, 0.5, 0.998, 1.0):
        mask = rng.uniform(size=shape) < density
        np.testing.assert_array_equal(any_true(mask, axis=axis), np.any(mask, axis=axis))
        np.testing.assert_array_equal(all_true(mask, axis=axis), np.all(mask, axis=axis))
    rows = rng.uniform(size=(6, 300)) < 0.997
    np.testing.assert_array_equal(jax.vmap(all_true)(rows), np.all(rows, axis=1))
    np.testing.assert_array_equal(jax.vmap(any_true)(~rows), np.any(~rows, axis=1))


@pytest.mark.parametrize("values, expected", [
    (np.arange(50.0), True), (np.array([-0.0, TABLE_SIZE - 1.0]), True), (np.zeros((3, 0)), True),
    (np.array([0.0, 0.5]), False), (np.array([-1.0, 2.0]), False), (np.array([TABLE_SIZE * 1.0]), False),
    (np.array([1.0, np.nan]), False), (np.array([np.inf]), False), (np.array([1e12]), False),
    (np.array([65536.0 + 3]), False), (np.array([3.0 + 1e-12]), False),
])
def test_whole_in_table_matches_definition(values, expected):
    reference = bool(np.all(np.isfinite(values) & (values == np.floor(values)) & (values >= 0)
                            & (values < TABLE_SIZE)))
    assert reference is expected
    assert whole_in_table(values) is expected


def test_whole_promise_gives_the_table_values_and_derivatives():
    k = jnp.asarray([0.0, 1.0, 2.0, 17.0, TABLE_SIZE - 1.0])
    np.testing.assert_allclose(log_factorial(k, whole=True), gammaln(np.asarray(k) + 1), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(xlogx(k, whole=True), xlogy(k, k), rtol=1e-14)
    np.testing.assert_array_equal(jax.vmap(lambda k: xlogx(k, True))(k.reshape(1, -1))[0], xlogx(k))
    np.testing.assert_allclose(jax.grad(lambda k: jnp.sum(log_factorial(k, True)))(k[1:]),
                               digamma(np.asarray(k[1:]) + 1), rtol=1e-14)
    np.testing.assert_allclose(jax.grad(lambda k: jnp.sum(xlogx(k, True)))(k[1:]), np.log(np.asarray(k[1:])) + 1,
                               rtol=1e-14)
