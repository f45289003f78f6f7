"""The optax loop: the generic driver on known functions, and jg.fit(solver=...) against IRLS."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxglm as jg
from jaxglm.solvers.gradient import minimize
from jaxglm.status import Status

N, P = 150, 4
TRUE = np.array([0.5, 0.3, -0.2, 0.1])
A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
B = np.array([1.0, -2.0, 0.5])


def quadratic(x):
    return 0.5 * x @ (A @ x) - B @ x


def test_lbfgs_minimises_a_quadratic():
    state = minimize(quadratic, jnp.zeros(3), "lbfgs", max_iter=100, gtol=1e-10)
    assert int(state.status) == Status.CONVERGED
    np.testing.assert_allclose(state.x, np.linalg.solve(A, B), rtol=1e-9)
    assert float(jnp.linalg.norm(state.grad)) <= 1e-10


def test_max_iter_is_honest():
    state = minimize(quadratic, jnp.zeros(3), optax.sgd(0.01), max_iter=3, gtol=1e-10)
    assert int(state.status) == Status.MAX_ITER and int(state.n_iter) == 3


def test_nonfinite_start():
    state = minimize(lambda x: jnp.sum(jnp.log(x)), -jnp.ones(3), optax.sgd(0.1), max_iter=10, gtol=1e-8)
    assert int(state.status) == Status.NONFINITE and int(state.n_iter) == 0


def test_steps_into_an_undefined_region_are_halved():
    # f(x) = x - log x, minimum at 1; SGD with a large rate overshoots to x < 0, where f = nan.
    fun = lambda x: jnp.sum(x - jnp.log(x))
    state = minimize(fun, jnp.full(1, 0.2), optax.sgd(0.5), max_iter=500, gtol=1e-9)
    assert int(state.status) == Status.CONVERGED
    np.testing.assert_allclose(state.x, [1.0], rtol=1e-8)


def simulate(family_name, rng):
    X = np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))])
    eta = X @ TRUE
    mu = np.exp(eta)
    families = {
        "gaussian": (jg.Gaussian(), lambda: eta + rng.normal(size=N)),
        "binomial": (jg.Binomial(), lambda: (rng.uniform(size=N) < 1 / (1 + np.exp(-eta))).astype(float)),
        "poisson": (jg.Poisson(), lambda: rng.poisson(mu).astype(float)),
        "gamma": (jg.Gamma(), lambda: rng.gamma(4.0, 1 / (eta + 3) / 4.0)),
        "inverse_gaussian": (jg.InverseGaussian(link="log"), lambda: rng.wald(mu, 8.0)),
        "negative_binomial": (jg.NegativeBinomial(alpha=0.5), lambda: rng.negative_binomial(2, 2 / (2 + mu)).astype(float)),
        "tweedie": (jg.Tweedie(power=1.5), lambda: rng.poisson(mu) * rng.gamma(2.0, 0.5, size=N)),
    }
    family, draw = families[family_name]
    return X, draw(), family


FAST = {"poisson"}  # the others compile two fits each: slow
FAMILIES = [name if name in FAST else pytest.param(name, marks=pytest.mark.slow)
            for name in ["gaussian", "binomial", "poisson", "gamma", "inverse_gaussian",
                         "negative_binomial", "tweedie"]]


def relative(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.mark.parametrize("family_name", FAMILIES)
def test_lbfgs_reaches_the_irls_estimate(family_name):
    X, y, family = simulate(family_name, np.random.default_rng(3))
    irls = jg.fit(X, y, family, tol=1e-13)
    lbfgs = jg.fit(X, y, family, solver="lbfgs")
    assert int(irls.status) == Status.CONVERGED and int(lbfgs.status) == Status.CONVERGED
    assert relative(lbfgs.coef, irls.coef) < 1e-6
    assert relative(lbfgs.std_err, irls.std_err) < 1e-6
    np.testing.assert_allclose(lbfgs.deviance, irls.deviance, rtol=1e-10)
    np.testing.assert_allclose(lbfgs.scale, irls.scale, rtol=1e-6)


@pytest.fixture(scope="module")
def poisson_data():
    return simulate("poisson", np.random.default_rng(3))


@pytest.mark.slow
def test_any_optax_transformation(poisson_data):
    X, y, family = poisson_data
    res = jg.fit(X, y, family, solver=optax.adam(0.05), max_iter=3000)
    assert int(res.status) == Status.CONVERGED and int(res.n_iter) > 20
    assert relative(res.coef, jg.fit(X, y, family, tol=1e-13).coef) < 1e-6


def test_gradient_fit_reports_max_iter(poisson_data):
    X, y, family = poisson_data
    res = jg.fit(X, y, family, solver="lbfgs", max_iter=2)
    assert int(res.status) == Status.MAX_ITER and not bool(res.converged)
    assert int(res.n_iter) == 2


def test_unknown_solver_names_the_choices(poisson_data):
    X, y, family = poisson_data
    with pytest.raises(ValueError, match="lbfgs"):
        jg.fit(X, y, family, solver="bfgs")


def test_second_call_does_not_recompile(poisson_data):
    from jaxglm.fit import _fit_compiled
    X, y, family = poisson_data
    jg.fit(X, y, family, solver="lbfgs")
    size = _fit_compiled._cache_size()
    jg.fit(X, y + 1.0, family, solver="lbfgs", max_iter=500, tol=1e-9)
    assert _fit_compiled._cache_size() == size


@pytest.mark.slow
def test_float32_and_vmap(poisson_data):
    import functools

    import jax
    X, y, family = poisson_data
    reference = jg.fit(X, y, family, tol=1e-13)
    res32 = jg.fit(X.astype(np.float32), y.astype(np.float32), family, solver="lbfgs")
    assert res32.coef.dtype == np.float32 and int(res32.status) == Status.CONVERGED
    assert relative(res32.coef, reference.coef) < 1e-3
    batch = jax.vmap(functools.partial(jg.fit, solver="lbfgs"), in_axes=(None, 0, None))(X, np.stack([y, y[::-1]]), family)
    assert np.all(np.asarray(batch.status) == Status.CONVERGED)
    assert relative(batch.coef[0], reference.coef) < 1e-6
