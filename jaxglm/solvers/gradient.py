"""A first-order loop driver for optax: one ``lax.while_loop``, no knowledge of GLMs.

``minimize(fun, x0, optimizer, max_iter=, gtol=)`` minimises a scalar function
of a flat (k,) vector with any ``optax.GradientTransformation`` (L-BFGS,
Adam, SGD, ...).  Each iteration

    g_k = grad f(x_k),   u_k = optimizer.update(g_k, state, x_k, value=f(x_k), grad=g_k, value_fn=f),
    x_{k+1} = x_k + t u_k,

with t = 1 halved (up to ``MAX_HALVINGS`` times) while f(x_k + t u_k) is not
finite (a step into a region where the objective is undefined, e.g. a
negative mean).  L-BFGS (``optax.lbfgs``, the ``"lbfgs"`` solver) does its
own zoom line search through ``value_fn``; plain gradient transformations get
the extra arguments ignored (``optax.with_extra_args_support``).

Stopping: ``||g_k||_2 <= gtol`` (the caller scales ``gtol`` to its problem)
gives ``CONVERGED``; ``max_iter`` iterations without it ``MAX_ITER``; a step
that no halving makes finite (or a non-finite start) ``NONFINITE``.

Cost compared with Newton: no (k, k) Hessian and no linear solve per
iteration (O(k) memory, one gradient per iteration, plus the line search's
function values), but many more iterations (tens to thousands instead of
~5-10), and only first-order accuracy in the stopping rule: the error in x is
about ``gtol`` times the inverse curvature.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from ..status import Status
from .linesearch import halve

MAX_HALVINGS = 30
_LBFGS = optax.lbfgs()  # one instance: a stable hash for jit's static arguments


class GradientState(NamedTuple):
    x: jax.Array          # (k,) current point
    value: jax.Array      # () f(x)
    grad: jax.Array       # (k,) grad f(x)
    opt_state: Any        # the optimizer's state
    n_iter: jax.Array     # () iterations done
    status: jax.Array     # () a Status code; MAX_ITER while running
    done: jax.Array       # () bool


def is_gradient_solver(solver):
    """True for ``"lbfgs"`` or an optax gradient transformation."""
    if isinstance(solver, str):
        return solver == "lbfgs"
    return callable(getattr(solver, "init", None)) and callable(getattr(solver, "update", None))


def get_optimizer(solver):
    """``"lbfgs"`` -> ``optax.lbfgs()`` (default settings); a transformation is returned as is."""
    if isinstance(solver, str):
        if solver != "lbfgs":
            raise ValueError(f"unknown gradient solver {solver!r}; use 'lbfgs' or an optax GradientTransformation")
        return _LBFGS
    return solver


def minimize(fun, x0, optimizer, *, max_iter, gtol):
    """Minimise ``fun`` from ``x0`` with ``optimizer``; returns the final ``GradientState``.

    Args:
        fun: (k,) -> () objective, +inf (or NaN) where undefined.
        x0: (k,) starting point (floating dtype).
        optimizer: ``"lbfgs"`` or an ``optax.GradientTransformation``.
        max_iter: iteration cap (may be traced).
        gtol: absolute tolerance on the Euclidean norm of the gradient (may be traced).

    Example::

        >>> import jax.numpy as jnp
        >>> state = minimize(lambda x: jnp.sum((x - 1.0) ** 2), jnp.zeros(3), "lbfgs",
        ...                  max_iter=50, gtol=1e-6)
        >>> bool(jnp.allclose(state.x, 1.0, atol=1e-6))
        True
    """
    opt = optax.with_extra_args_support(get_optimizer(optimizer))
    value_and_grad = jax.value_and_grad(fun)

    def finite_step(x, updates):
        t, value = halve(fun, x, updates, lambda t, value: jnp.isfinite(value), MAX_HALVINGS)
        return x + t * updates, jnp.isfinite(value)

    def step(state):
        updates, opt_state = opt.update(state.grad, state.opt_state, state.x, value=state.value,
                                        grad=state.grad, value_fn=fun)
        updates = jnp.where(jnp.isfinite(updates), updates, 0.0).astype(state.x.dtype)
        x, ok = finite_step(state.x, updates)
        value, grad = value_and_grad(x)
        n_iter = state.n_iter + 1
        converged = ok & (jnp.linalg.norm(grad) <= gtol)
        status = jnp.where(ok, jnp.where(converged, Status.CONVERGED, Status.MAX_ITER), Status.NONFINITE)
        done = ~ok | converged | (n_iter >= max_iter)
        keep = lambda new, old: jnp.where(ok, new, old)
        opt_state = jax.tree_util.tree_map(keep, opt_state, state.opt_state)
        return GradientState(keep(x, state.x), keep(value, state.value), keep(grad, state.grad),
                             opt_state, n_iter, status.astype(jnp.int32), done)

    value0, grad0 = value_and_grad(x0)
    finite0 = jnp.isfinite(value0) & jnp.all(jnp.isfinite(grad0))
    converged0 = finite0 & (jnp.linalg.norm(grad0) <= gtol)
    status0 = jnp.where(finite0, jnp.where(converged0, Status.CONVERGED, Status.MAX_ITER), Status.NONFINITE)
    init = GradientState(x0, value0, grad0, opt.init(x0), jnp.asarray(0, jnp.int32),
                         status0.astype(jnp.int32), ~finite0 | converged0 | (max_iter <= 0))
    return lax.while_loop(lambda s: ~s.done, step, init)
