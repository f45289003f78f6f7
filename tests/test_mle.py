"""jg.mle against closed forms (Normal linear model), finite differences, and under jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from jaxglm.status import Status

N = 120


def normal_nll(params, X, y):
    """Normal linear model in (b, log sigma)."""
    sigma = jnp.exp(params["log_sigma"])
    r = y - X @ params["b"]
    return jnp.sum(0.5 * (r / sigma) ** 2 + params["log_sigma"] + 0.5 * jnp.log(2 * jnp.pi))


def normal_nll_numpy(theta, X, y):
    """The same in NumPy on a flat vector (b..., log sigma), for finite differences."""
    b, log_sigma = theta[:-1], theta[-1]
    r = y - X @ b
    return np.sum(0.5 * r**2 * np.exp(-2 * log_sigma) + log_sigma + 0.5 * np.log(2 * np.pi))


def quartic(params):
    """Double well: minima at x = +-1, a local maximum at 0."""
    x = params["x"]
    return jnp.sum(x**4 - 2 * x**2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(N), rng.normal(size=N)])
    y = X @ np.array([1.0, -2.0]) + 0.7 * rng.normal(size=N)
    return X, y


@pytest.fixture(scope="module")
def p0():
    return {"b": jnp.zeros(2), "log_sigma": jnp.asarray(0.0)}


@pytest.fixture(scope="module")
def fitted(data, p0):
    return jg.mle(normal_nll, p0, *data)


def closed_form(X, y):
    b = np.linalg.solve(X.T @ X, X.T @ y)
    sigma = np.sqrt(np.sum((y - X @ b) ** 2) / len(y))
    se_b = sigma * np.sqrt(np.diag(np.linalg.inv(X.T @ X)))
    return b, sigma, se_b


def test_matches_closed_form(data, fitted):
    b, sigma, se_b = closed_form(*data)
    assert int(fitted.status) == Status.CONVERGED and bool(fitted.converged)
    np.testing.assert_allclose(fitted.params["b"], b, rtol=1e-10)
    np.testing.assert_allclose(np.exp(fitted.params["log_sigma"]), sigma, rtol=1e-10)
    np.testing.assert_allclose(fitted.std_err["b"], se_b, rtol=1e-8)
    # d^2 nll / d(log sigma)^2 = 2 n at the optimum, so se(log sigma) = 1 / sqrt(2 n).
    np.testing.assert_allclose(fitted.std_err["log_sigma"], 1 / np.sqrt(2 * N), rtol=1e-8)
    np.testing.assert_allclose(fitted.hessian[-1, -1], 2 * N, rtol=1e-8)
    loglik = -N / 2 * (np.log(2 * np.pi * sigma**2) + 1)
    np.testing.assert_allclose(fitted.loglik, loglik, rtol=1e-12)
    assert fitted.params["b"].shape == (2,) and fitted.std_err["log_sigma"].shape == ()


def test_hessian_matches_finite_differences(data, fitted):
    X, y = data
    theta = np.concatenate([np.asarray(fitted.params["b"]), [float(fitted.params["log_sigma"])]])
    k, h = theta.size, 1e-4
    fd = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            f = lambda d: normal_nll_numpy(theta + d, X, y)
            fd[i, j] = (f(ei + ej) - f(ei - ej) - f(ej - ei) + f(-ei - ej)) / (4 * h * h)
    np.testing.assert_allclose(fitted.hessian, fd, rtol=1e-5, atol=1e-5 * np.abs(fd).max())
    np.testing.assert_allclose(fitted.cov, np.linalg.inv(fd), rtol=1e-5, atol=1e-8)


def test_lbfgs_agrees_with_newton(data, p0, fitted):
    res = jg.mle(normal_nll, p0, *data, solver="lbfgs", max_iter=200, tol=1e-10)
    assert int(res.status) == Status.CONVERGED
    assert int(res.n_iter) > int(fitted.n_iter)
    np.testing.assert_allclose(res.params["b"], fitted.params["b"], rtol=1e-7)
    np.testing.assert_allclose(res.params["log_sigma"], fitted.params["log_sigma"], rtol=1e-7)
    np.testing.assert_allclose(res.hessian, fitted.hessian, rtol=1e-6, atol=1e-6 * N)


def test_vmap_and_jit(data, p0):
    X, y = data
    Y = np.stack([y, 2 * y + 1, y[::-1]])
    batch = jax.jit(jax.vmap(lambda yy: jg.mle(normal_nll, p0, X, yy)))(Y)
    assert batch.params["b"].shape == (3, 2) and batch.hessian.shape == (3, 3, 3)
    assert np.all(np.asarray(batch.status) == Status.CONVERGED)
    for i in range(3):
        b, sigma, _ = closed_form(X, Y[i])
        np.testing.assert_allclose(batch.params["b"][i], b, rtol=1e-9)
        np.testing.assert_allclose(np.exp(batch.params["log_sigma"][i]), sigma, rtol=1e-9)


def test_max_iter_is_reported(data, p0):
    res = jg.mle(normal_nll, p0, *data, max_iter=1)
    assert int(res.status) == Status.MAX_ITER and not bool(res.converged)
    assert int(res.n_iter) == 1


def test_indefinite_hessian_is_damped():
    # At x = 0.1 the Hessian 12 x^2 - 4 is negative: a plain Newton step would go to the maximum.
    res = jg.mle(quartic, {"x": jnp.asarray([0.1, -0.3])})
    assert int(res.status) == Status.CONVERGED
    np.testing.assert_allclose(res.params["x"], [1.0, -1.0], rtol=1e-10)
    np.testing.assert_allclose(res.hessian, 8 * np.eye(2), rtol=1e-8)


def test_stationary_maximum_is_not_converged():
    res = jg.mle(quartic, {"x": jnp.zeros(2)})
    assert int(res.status) == Status.SINGULAR and not bool(res.converged)


def test_float32():
    y = np.asarray([0.5, 1.5, 2.0, 4.0], np.float32)
    nll = lambda p, y: jnp.sum(0.5 * (y - p["m"]) ** 2 / jnp.exp(2 * p["s"]) + p["s"])
    res = jg.mle(nll, {"m": np.float32(0.0), "s": np.float32(0.0)}, y)
    assert res.params["m"].dtype == jnp.float32 and int(res.status) == Status.CONVERGED
    np.testing.assert_allclose(res.params["m"], y.mean(), rtol=1e-5)
    np.testing.assert_allclose(np.exp(res.params["s"]), y.std(), rtol=1e-4)


@pytest.mark.parametrize("bad, message", [
    (dict(negloglik=lambda p, X, y: X @ p["b"]), "scalar"),
    (dict(params0={"b": jnp.asarray([np.nan, 0.0]), "log_sigma": jnp.asarray(0.0)}), "non-finite"),
    (dict(params0={"b": jnp.zeros(2), "log_sigma": jnp.asarray(-1e4)}), "not finite at params0"),
    (dict(solver="bfgs"), "unknown solver"),
    (dict(max_iter=0), "max_iter"),
])
def test_eager_validation(data, p0, bad, message):
    kwargs = dict(negloglik=normal_nll, params0=p0, solver="newton", max_iter=None)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=message):
        jg.mle(kwargs.pop("negloglik"), kwargs.pop("params0"), *data, **kwargs)
