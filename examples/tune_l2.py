"""Choose a ridge penalty by gradient descent on a held-out deviance, and compare with a grid search.

Logistic regression with many weak covariates: the training fit is

    beta(l2) = argmin  deviance_train(beta) + l2 * sum_{j >= 1} beta_j^2   (intercept unpenalised),

and the criterion is the deviance of the held-out data at beta(l2).  Its
derivative with respect to s = log l2 flows through the fit by the implicit
function theorem (``jaxglm.implicit``: d beta / d l2 = -H^{-1} dF/dl2, one
linear solve at the optimum, never through the IRLS loop), so s can be
optimised by Adam inside one compiled ``lax.scan``.  The grid search fits
the model at every grid value at once (``jax.vmap``) and keeps the best.

Run:  python examples/tune_l2.py [--small]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

jax.config.update("jax_enable_x64", True)

import jaxglm as jg  # noqa: E402

FAMILY = jg.Binomial()


def simulate(n_train, n_test, p, seed=0):
    """Train and test sets: X = [1, N(0, 1) covariates], small true effects, Bernoulli y."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n_train + n_test), rng.normal(size=(n_train + n_test, p - 1))])
    beta = np.r_[-0.3, 0.25 * rng.normal(size=p - 1)]
    y = rng.binomial(1, 1 / (1 + np.exp(-X @ beta))).astype(float)
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def heldout_deviance(log_l2, train, test):
    """Deviance on ``test`` of the fit on ``train`` with penalty exp(log_l2) on every slope."""
    (X, y), (X_test, y_test) = train, test
    penalty = jnp.exp(log_l2) * jnp.r_[0.0, jnp.ones(X.shape[1] - 1)]
    res = jg.fit(X, y, FAMILY, l2=penalty, tol=1e-10)
    mu = jg.predict(res, X_test)
    return jnp.sum(FAMILY.unit_deviance(y_test, mu))


@jax.jit
def descend(log_l2, train, test):
    """60 Adam steps on s = log l2 (learning rate 0.3, momentum 0.5); the path of (s, deviance)."""
    optimizer = optax.adam(0.3, b1=0.5)
    value_and_grad = jax.value_and_grad(heldout_deviance)

    def step(carry, _):
        s, state = carry
        value, grad = value_and_grad(s, train, test)
        update, state = optimizer.update(grad, state)
        return (s + update, state), (s, value)

    _, path = jax.lax.scan(step, (log_l2, optimizer.init(log_l2)), None, length=60)
    return path


@jax.jit
def grid_search(grid, train, test):
    """Held-out deviance at every grid value (all fits in one vmapped program)."""
    return jax.vmap(heldout_deviance, in_axes=(0, None, None))(grid, train, test)


def timed(fn, *args):
    """(result, seconds of the first call, seconds of the second call)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, first, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: n_train=60, p=10")
    args = parser.parse_args(argv)
    n_train, n_test, p = (60, 400, 10) if args.small else (150, 5000, 40)
    train, test = simulate(n_train, n_test, p)
    grid = jnp.r_[jnp.linspace(-4.0, 6.0, 41), -30.0]   # the last: practically no penalty
    (path_s, path_dev), gd_first, gd_time = timed(descend, jnp.asarray(0.0), train, test)
    grid_dev, grid_first, grid_time = timed(grid_search, grid, train, test)
    unpenalised, grid, grid_dev = float(grid_dev[-1]), grid[:-1], grid_dev[:-1]
    best = int(np.argmin(grid_dev))
    s_gd, dev_gd = float(path_s[-1]), float(path_dev[-1])
    print(f"Choosing l2 by held-out deviance (logistic, n_train={n_train}, n_test={n_test}, p={p})")
    print(f"  no penalty:                         held-out deviance {unpenalised:.4f}")
    print(f"  grid search, {grid.size} values of log l2:   log l2 = {float(grid[best]):.3f}, "
          f"held-out deviance {float(grid_dev[best]):.4f}, {grid_time:.3f} s [{grid_first:.1f} s with compilation]")
    print(f"  gradient descent, {path_s.size} Adam steps:    log l2 = {s_gd:.3f}, "
          f"held-out deviance {dev_gd:.4f}, {gd_time:.3f} s [{gd_first:.1f} s with compilation]")
    print(f"  held-out deviance along the descent: {float(path_dev[0]):.4f} (log l2 = 0) -> {dev_gd:.4f}")
    return s_gd, dev_gd, float(grid[best]), float(grid_dev[best])


if __name__ == "__main__":
    main()
