"""Poisson regression by maximum likelihood, three ways, all reaching statsmodels' answer.

The model: y_i ~ Poisson(mu_i), log mu_i = x_i^T beta.  The log-likelihood
and its gradient are

    l(beta) = sum_i [y_i x_i^T beta - exp(x_i^T beta) - log y_i!],
    grad l(beta) = X^T (y - mu),     Hessian = -X^T diag(mu) X.

1. Gradient ascent written by hand in ``jax.numpy``: beta += lr * grad l / n
   with a fixed learning rate lr = 0.1 (it must stay below 2 / the largest
   eigenvalue of X^T diag(mu) X / n, about 7 here); ``jax.grad`` does the
   differentiation.  Its speed is set by the condition number of that
   matrix: the correlated covariates make it slow.
2. An optax optimiser (L-BFGS, ``optax.lbfgs`` with its zoom line search) on
   the same mean negative log-likelihood.
3. ``jg.fit``: IRLS / Fisher scoring, i.e. Newton's method on the
   log-likelihood (for the canonical log link the expected and observed
   information coincide), which uses the Hessian and needs a handful of steps.

Each loop stops when ||grad of the mean log-likelihood|| < 1e-8 and prints
the log-likelihood along the way; the table gives iterations and time to
reach the MLE (warm: compilation excluded) and the distance to statsmodels.

Run:  python examples/poisson_three_ways.py [--small]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import statsmodels.api as sm
from jax.scipy.special import gammaln

jax.config.update("jax_enable_x64", True)

import jaxglm as jg  # noqa: E402

GTOL = 1e-8


def simulate(n, seed=0):
    """X = [1, three N(0, 1) covariates with correlation 0.8]; beta = (1.0, 0.3, -0.2, 0.1)."""
    rng = np.random.default_rng(seed)
    corr = np.full((3, 3), 0.8) + 0.2 * np.eye(3)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3)) @ np.linalg.cholesky(corr).T])
    beta = np.array([1.0, 0.3, -0.2, 0.1])
    return X, rng.poisson(np.exp(X @ beta)).astype(float)


def loglik(beta, X, y):
    """Poisson log-likelihood, written out."""
    eta = X @ beta
    return jnp.sum(y * eta - jnp.exp(eta) - gammaln(y + 1))


def mean_nll(beta, X, y):
    return -loglik(beta, X, y) / y.shape[0]


@jax.jit
def ascent_step(beta, X, y, lr):
    """One step of gradient ascent on the mean log-likelihood; returns (beta, ||grad||)."""
    grad = jax.grad(mean_nll)(beta, X, y)
    return beta - lr * grad, jnp.linalg.norm(grad)


def gradient_ascent(X, y, lr=0.1, max_iter=100_000, report=None):
    beta = jnp.zeros(X.shape[1])
    for it in range(1, max_iter + 1):
        new, gnorm = ascent_step(beta, X, y, lr)
        if gnorm < GTOL:
            return beta, it - 1
        beta = new
        if report is not None and it in report:
            report[it] = float(loglik(beta, X, y))
    return beta, max_iter


OPTIMIZER = optax.lbfgs()


@jax.jit
def lbfgs_step(beta, state, X, y):
    fun = lambda b: mean_nll(b, X, y)
    value, grad = optax.value_and_grad_from_state(fun)(beta, state=state)
    updates, state = OPTIMIZER.update(grad, state, beta, value=value, grad=grad, value_fn=fun)
    return optax.apply_updates(beta, updates), state, jnp.linalg.norm(grad)


def lbfgs(X, y, max_iter=1000, report=None):
    beta = jnp.zeros(X.shape[1])
    state = OPTIMIZER.init(beta)
    for it in range(1, max_iter + 1):
        new, new_state, gnorm = lbfgs_step(beta, state, X, y)
        if gnorm < GTOL:
            return beta, it - 1
        beta, state = new, new_state
        if report is not None and it in report:
            report[it] = float(loglik(beta, X, y))
    return beta, max_iter


def irls(X, y):
    res = jg.fit(X, y, jg.Poisson(), tol=1e-12)
    return res.coef, int(res.n_iter)


def timed(fn, *args, **kwargs):
    fn(*args, **kwargs)  # warm-up: compile
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: n=200")
    args = parser.parse_args(argv)
    n = 200 if args.small else 100_000
    X, y = simulate(n)
    ref = sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-12)
    print(f"Poisson regression, n = {n}, p = {X.shape[1]}; statsmodels loglik = {ref.llf:.6f}")

    checkpoints = [1, 2, 5, 10, 50, 100, 500, 1000]
    traces = {"gradient ascent": dict.fromkeys(checkpoints), "optax L-BFGS": dict.fromkeys(checkpoints)}
    gradient_ascent(X, y, report=traces["gradient ascent"])
    lbfgs(X, y, report=traces["optax L-BFGS"])
    print("\nlog-likelihood by iteration (blank: already stopped)")
    print(f"{'iteration':>10} " + " ".join(f"{name:>18}" for name in traces))
    for it in checkpoints:
        cells = [f"{t[it]:18.6f}" if t[it] is not None else " " * 18 for t in traces.values()]
        print(f"{it:>10} " + " ".join(cells))

    rows = [("gradient ascent (jnp)", *timed(gradient_ascent, X, y)),
            ("optax L-BFGS", *timed(lbfgs, X, y)),
            ("jg.fit (IRLS/Newton)", *timed(irls, X, y))]
    print(f"\n{'method':<24}{'iterations':>11}{'time (s)':>10}{'loglik':>16}{'max|b - sm|':>13}")
    for name, (beta, n_iter), seconds in rows:
        dist = np.max(np.abs(np.asarray(beta) - ref.params))
        print(f"{name:<24}{n_iter:>11}{seconds:>10.4f}{float(loglik(beta, X, y)):>16.6f}{dist:>13.2e}")
        assert dist < 1e-5, f"{name} did not reach the MLE"
    print(f"{'statsmodels GLM':<24}{int(ref.fit_history['iteration']):>11}{'':>10}{ref.llf:>16.6f}")


if __name__ == "__main__":
    main()
