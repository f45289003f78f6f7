"""Influence of each observation on the coefficients: one ``jax.jacrev`` vs leave-one-out refits.

The infinitesimal jackknife: removing observation i changes its prior weight
from 1 to 0, so to first order the change in the estimate is

    beta_(-i) - beta  ~  -d beta / d w_i,

and one reverse-mode Jacobian of the fit with respect to the weights
(p vector-Jacobian products through the implicit-function rule of
``jaxglm.implicit``; the IRLS loop is never differentiated) gives all n
columns at once.  The exact answer refits the model n times with
weights[i] = 0 (here with ``jg.fit_many``).  The script prints how close the two
are and how long each takes (second, compiled call; the first call's time,
compilation included, in brackets).

Run:  python examples/influence.py [--small]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import jaxglm as jg  # noqa: E402


def simulate(n, p, seed=0):
    """Poisson counts with log link: X = [1, N(0, 1) covariates], beta = (0.5, 0.3, -0.2, ...)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    beta = np.r_[0.5, 0.3 * (-1.0) ** np.arange(p - 1) / np.arange(1, p)]
    y = rng.poisson(np.exp(X @ beta)).astype(float)
    return X, y


@jax.jit
def jackknife(X, y, weights):
    """(p, n): -d beta / d w_i, the first-order change of beta when observation i is removed."""
    coef = lambda w: jg.fit(X, y, jg.Poisson(), weights=w, tol=1e-10).coef
    return -jax.jacrev(coef)(weights)


def leave_one_out(X, y):
    """(p, n): beta_(-i) - beta from n refits with weights[i] = 0 (one fit_many call)."""
    n = y.shape[0]
    weights = np.vstack([np.ones(n), 1.0 - np.eye(n)])   # model 0: the full data
    refits = jg.fit_many(X, np.broadcast_to(y, (n + 1, n)), jg.Poisson(), weights=weights, tol=1e-10)
    assert bool(np.all(refits.converged)), "a refit did not converge"
    coef = np.asarray(refits.coef)
    return (coef[1:] - coef[0]).T


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
    parser.add_argument("--small", action="store_true", help="CI size: n=100, p=3")
    args = parser.parse_args(argv)
    n, p = (100, 3) if args.small else (2000, 5)
    X, y = simulate(n, p)
    ij, ij_first, ij_time = timed(jackknife, X, y, np.ones(n))
    loo, loo_first, loo_time = timed(leave_one_out, X, y)
    ij = np.asarray(ij)
    corr = np.corrcoef(ij.ravel(), loo.ravel())[0, 1]
    max_diff = np.max(np.abs(ij - loo))
    print(f"Influence of each observation on the coefficients (Poisson, n={n}, p={p})")
    print(f"  infinitesimal jackknife (one jax.jacrev w.r.t. weights): {ij_time:.4f} s "
          f"[{ij_first:.1f} s with compilation]")
    print(f"  {n} leave-one-out refits (jg.fit_many, weights[i] = 0):  {loo_time:.4f} s "
          f"[{loo_first:.1f} s with compilation]")
    print(f"  correlation of the {ij.size} coefficient changes: {corr:.6f}")
    print(f"  max |jackknife - leave-one-out|: {max_diff:.2e} "
          f"(largest leave-one-out change {np.max(np.abs(loo)):.2e})")
    return corr, max_diff


if __name__ == "__main__":
    main()
