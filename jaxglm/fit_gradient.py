"""The GLM objective handed to the optax loop (``jg.fit(..., solver="lbfgs")``).

The gradient loop minimises the mean penalised deviance

    f(beta) = [deviance(X beta + offset) + sum(l2 * beta^2)] / sum(weights),

(+inf where a mean leaves the family's range) with ``jaxglm.solvers.gradient``,
starting from one IRLS step from R's ``mustart`` (so the start is always a
valid mean).  It stops when

    ||grad f(beta)||_2 <= tol * S,   S = || (2 / sum(w)) |X|^T |s_null| ||_2,

where s_null is the per-observation score d loglik / d eta at the null mean
(the weighted mean of y): S is the size of the gradient terms of this data
set (it scales with X and y as the gradient does and does not depend on n),
so ``tol`` is a relative gradient tolerance (floored at 1000 machine
epsilons).  Inference afterwards is the same as for IRLS (expected
information at the estimate).

When to prefer it: very many coefficients, where an IRLS iteration's (p, p)
solve dominates.  What it costs: tens to thousands of iterations instead of
about five, and first-order accuracy (the coefficients are accurate to about
``tol`` times the condition number of the information); ``jg.fit`` still
forms and inverts the (p, p) information once, at the end, for the covariance.

The transformation is a static argument of the compiled fit: create it once
and pass the same object on every call (``opt = optax.adam(0.05)``), since a
new ``optax.adam(0.05)`` object is a new program and compiles again.

Example::

    >>> import numpy as np, jaxglm as jg
    >>> X = np.column_stack([np.ones(5), np.arange(5.0)])
    >>> res = jg.fit(X, np.array([1.0, 0, 2, 4, 5]), jg.Poisson(), solver="lbfgs")
    >>> int(res.status)
    0
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import inference
from .solvers.gradient import minimize
from .solvers.irls import irls

DEFAULT_MAX_ITER = 1000


class GradientFit(NamedTuple):
    beta: jax.Array    # (p,) estimate (aliased coefficients 0)
    n_iter: jax.Array  # () iterations, the starting IRLS step included
    status: jax.Array  # () Status code of the loop


def gradient_scale(X, y, family, weights):
    """S = ||(2 / sum(w)) |X|^T |s_null|||_2, the scale of the mean deviance's gradient."""
    mean_y = jnp.sum(weights * y) / jnp.sum(weights)
    eta_null = jnp.full_like(y, family.link.link(mean_y))
    score, _ = inference.working_function(family, y, weights, "expected")(eta_null)
    gross = jnp.abs(X).T @ jnp.where(weights > 0, jnp.abs(score), 0.0)
    return 2 * jnp.linalg.norm(gross) / jnp.sum(weights)


def gradient_fit(X, y, family, weights, offset, l2, alias, *, max_iter, tol, optimizer, beta0=None):
    """``GradientFit(beta, n_iter, status)`` of the optax loop on the mean penalised deviance.

    ``beta0`` is the valid point the first IRLS step is halved towards (see
    ``jaxglm.solvers.irls``); ``n_iter`` counts that starting step too.
    """
    working = inference.working_function(family, y, weights, "expected")
    objective = inference.deviance_objective(family, y, weights)
    eta0 = family.link.link(family.init_mu(y, weights))
    start = irls(X, offset, eta0, l2, alias, working, objective, max_iter=jnp.minimum(max_iter, 1), tol=tol,
                 beta0=beta0, final_system=False)
    total = jnp.sum(weights)

    def fun(beta):
        beta = jnp.where(alias, 0.0, beta)
        dev, _, _ = objective(X @ beta + offset)
        return (dev + jnp.sum(l2 * beta**2)) / total

    gtol = jnp.maximum(tol, 1000 * jnp.finfo(X.dtype).eps) * gradient_scale(X, y, family, weights)
    state = minimize(fun, start.beta, optimizer, max_iter=max_iter - 1, gtol=gtol)
    beta = jnp.where(alias, 0.0, state.x)
    return GradientFit(beta, state.n_iter + start.n_iter, state.status)
