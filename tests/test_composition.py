"""``fit`` and ``mle`` composed inside other JAX programs: grad of vmap, vmap of grad, lax.scan, jit.

The quantity differentiated is the sum over B = 3 Poisson models (n = 40, p = 3,
with offset) of the deviance at the fit, as a function of a shared ridge
penalty l2; every composition must give the same number, and it must match a
central finite difference (the ``jit``-ed grad of vmap uses Newton, the others
IRLS: both give the same derivative).  Per-model failures give NaN derivatives for that
model only, and nothing raises under tracing.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg

N, B = 40, 3


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(N), 0.5 * rng.normal(size=(N, 2))])
    offset = 0.1 * rng.normal(size=N)
    Y = rng.poisson(np.exp(X @ [0.4, 0.3, -0.2] + offset), size=(B, N)).astype(float)
    return X, Y, offset


def deviance(X, y, offset, l2, solver="irls"):
    return jg.fit(X, y, jg.Poisson(), offset=offset, l2=l2, tol=1e-15, solver=solver).deviance


def batch_loss(X, Y, offset, l2, solver="irls"):
    one = functools.partial(deviance, solver=solver)
    return jnp.sum(jax.vmap(one, in_axes=(None, 0, None, None))(X, Y, offset, l2))


# A user's jit around grad of vmap of fit, with the solver chosen by functools.partial (Newton):
grad_of_vmap = jax.jit(jax.grad(functools.partial(batch_loss, solver="newton"), argnums=3))
vmap_of_grad = jax.jit(jax.vmap(jax.value_and_grad(deviance, argnums=3), in_axes=(None, 0, None, None)))


@jax.jit
def scan_loss(X, Y, offset, l2):
    def body(total, y):
        return total + deviance(X, y, offset, l2), None
    return jax.lax.scan(body, jnp.zeros((), X.dtype), Y)[0]


@pytest.fixture(scope="module")
def reference(data):
    """Central difference of the batch loss in l2 at l2 = 0.5 (from the values of ``vmap_of_grad``)."""
    X, Y, offset = data
    h = 1e-6
    plus, minus = (jnp.sum(vmap_of_grad(X, Y, offset, 0.5 + s)[0]) for s in (h, -h))
    return float(plus - minus) / (2 * h)


def test_grad_of_vmap_of_fit_in_jit(data, reference):
    X, Y, offset = data
    np.testing.assert_allclose(grad_of_vmap(X, Y, offset, 0.5), reference, rtol=1e-6)


def test_vmap_of_grad_of_fit(data, reference):
    X, Y, offset = data
    per_model = vmap_of_grad(X, Y, offset, 0.5)[1]
    assert per_model.shape == (B,)
    np.testing.assert_allclose(jnp.sum(per_model), reference, rtol=1e-6)


def test_fit_inside_lax_scan(data, reference):
    X, Y, offset = data
    np.testing.assert_allclose(jax.grad(scan_loss, argnums=3)(X, Y, offset, 0.5), reference, rtol=1e-6)


def test_bad_model_in_batch_is_nan_and_nothing_raises(data):
    """Invalid y in one model: traced, so no ValueError (validation is skipped); only its derivative is NaN."""
    X, Y, offset = data
    Y = Y.copy()
    Y[1, 0] = -1.0
    per_model = np.asarray(vmap_of_grad(X, Y, offset, 0.5)[1])
    assert np.isfinite(per_model[[0, 2]]).all() and np.isnan(per_model[1])
    with pytest.raises(ValueError, match="Poisson y"):
        jg.fit(X, Y[1], jg.Poisson(), offset=offset)


def test_no_host_callbacks_in_the_derivative_program(data):
    X, Y, offset = data
    text = str(jax.make_jaxpr(jax.grad(batch_loss, argnums=3))(X, Y, offset, 0.5))
    assert "callback" not in text and "while" in text


def normal_nll(params, y):
    return jnp.sum(0.5 * (y - params["m"]) ** 2 * jnp.exp(-2 * params["log_sd"]) + params["log_sd"])


def normal_mle(y, max_iter=100):
    p0 = {"m": jnp.zeros(()), "log_sd": jnp.zeros(())}
    return jg.mle(normal_nll, p0, y, max_iter=max_iter)


@jax.jit
def mle_derivatives(Y, direction, max_iter):
    params = lambda y: normal_mle(y, max_iter).params
    return (jax.vmap(jax.jacrev(params))(Y),
            jax.jvp(lambda y: params(y)["log_sd"], (Y[0],), (direction,))[1])


def test_mle_derivatives_closed_form_batched():
    """Normal MLE: m = mean(y), log_sd = log(sd_ml(y)); dm/dy = 1/n, dlog_sd/dy = (y - m) / sum((y - m)^2)."""
    Y = np.random.default_rng(4).normal(size=(2, 8))
    centred = Y - Y.mean(axis=1, keepdims=True)
    jac, fwd = mle_derivatives(Y, centred[0], 100)
    np.testing.assert_allclose(jac["m"], np.full_like(Y, 1 / 8), rtol=1e-9)
    np.testing.assert_allclose(jac["log_sd"], centred / np.sum(centred**2, axis=1, keepdims=True), rtol=1e-8)
    np.testing.assert_allclose(fwd, 1.0, rtol=1e-8)   # scaling y about its mean by (1 + t): d log_sd = 1
    jac, fwd = mle_derivatives(Y, centred[0], 1)       # one Newton step: not converged
    assert np.isnan(jac["m"]).all() and np.isnan(jac["log_sd"]).all() and np.isnan(fwd)


def test_fit_many_under_grad_and_jit_equals_vmap_of_fit():
    """Traced, fit_many is a vmap of fit: differentiable and jittable (no host chunking)."""
    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(40), rng.normal(size=(40, 2))])
    Y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2]), size=(3, 40)).astype(float)

    def loss(w, fitter):
        return jnp.sum(fitter(w).deviance)

    many = lambda w: jg.fit_many(X, Y, jg.Poisson(), weights=w)
    single = lambda w: jax.vmap(lambda y: jg.fit(X, y, jg.Poisson(), weights=w))(Y)
    w = jnp.ones(40)
    g_many = jax.jit(jax.grad(lambda w: loss(w, many)))(w)
    g_single = jax.grad(lambda w: loss(w, single))(w)
    np.testing.assert_allclose(g_many, g_single, rtol=1e-10)
    eager = jg.fit_many(X, Y, jg.Poisson())
    traced = jax.jit(lambda Y: jg.fit_many(X, Y, jg.Poisson()))(Y)
    np.testing.assert_allclose(traced.coef, eager.coef, rtol=1e-10)
