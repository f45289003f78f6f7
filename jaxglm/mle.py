"""``mle``: maximum likelihood for any negative log-likelihood of a pytree of parameters.

Given ``negloglik(params, *args) -> scalar`` and a starting pytree
``params0``, ``mle`` flattens the parameters to a vector theta
(``jax.flatten_util.ravel_pytree``), minimises f(theta) = negloglik, and
reports inference at the optimum from the Hessian of f (``jax.hessian``):

    hessian = d^2 f / d theta d theta^T  (k, k),   cov = hessian^{-1},
    std_err = sqrt(diag(cov))  (unflattened to the pytree of ``params``).

Solvers:

* ``"newton"`` (default): d = -(H + lambda I)^{-1} g with lambda = 0 when H is
  positive definite, else Levenberg damping (lambda grown tenfold until the
  Cholesky factorisation succeeds; a plain gradient step if it never does),
  then backtracking (step-halving) until the Armijo condition
  f(theta + t d) <= f(theta) + 1e-4 t g^T d holds.  Converged when the Newton
  decrement is small, sqrt(g^T H^{-1} g / (|f| + 0.1)) < tol (g^T H^{-1} g / 2
  estimates f - f_min, so this asks the distance to the optimum to be below
  about tol in the metric of H, relative to the objective's size), after
  which the final step is still taken (quadratic convergence).
* ``"lbfgs"`` or any ``optax.GradientTransformation``: the first-order loop of
  ``jaxglm.solvers.gradient``, for problems whose (k, k) Hessian is too large
  to factor at every step.  It stops when ||g||_2 <= tol ||g_0||_2 (the
  gradient at ``params0``); expect hundreds of iterations.  The Hessian is
  still computed once, at the optimum, for the covariance.

The structure is: a loop producing the optimum, then ``inference_at``
computing every other field from the final parameters alone.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import implicit
from ._compile import jit
from ._pytree import is_concrete
from .solvers import gradient
from .solvers.linesearch import halve
from .status import Status

DEFAULT_MAX_ITER = {"newton": 100, "gradient": 2000}
MAX_HALVINGS = 40
MAX_DAMPING = 20


class MLEResult(NamedTuple):
    """Result of :func:`jaxglm.mle` (a pytree; batched along axis 0 under ``vmap``).

    Attributes:
        params: the estimate, same pytree as ``params0``.
        hessian: (k, k) Hessian of the negative log-likelihood at the estimate,
            in the order of ``jax.flatten_util.ravel_pytree(params)``.
        cov: (k, k) its inverse (observed-information covariance).
        std_err: square roots of the diagonal of ``cov``, same pytree as ``params``.
        loglik: () the log-likelihood at the estimate, ``-negloglik(params)``.
        n_iter, converged, status: () iterations, bool, ``jaxglm.Status`` code.
    """

    params: Any
    hessian: jax.Array
    cov: jax.Array
    std_err: Any
    loglik: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    status: jax.Array


def mle(negloglik, params0, *args, solver="newton", max_iter=None, tol=1e-8):
    """Maximum-likelihood estimate of ``params`` minimising ``negloglik(params, *args)``.

    Args:
        negloglik: (params, *args) -> scalar negative log-likelihood (jax-traceable).
        params0: starting values, any pytree of floating arrays (a dict, say).
        *args: data passed through to ``negloglik`` (arrays / pytrees; traced).
        solver: ``"newton"`` (default), ``"lbfgs"``, or an ``optax.GradientTransformation``.
        max_iter: iteration cap; default 100 for Newton, 2000 for gradient solvers.
        tol: Newton: decrement rule sqrt(g^T H^-1 g / (|f| + 0.1)) < tol; gradient
            solvers: ||g|| <= tol ||g_0||.  Floored at 1000 machine epsilons.

    Returns:
        ``MLEResult``.  Works under ``jax.jit`` and ``jax.vmap`` (close over
        ``negloglik``: ``jax.vmap(lambda y: jg.mle(nll, p0, y))(Y)``); inside
        them nothing raises and ``status`` reports failures.  Called eagerly it
        raises ``ValueError`` when ``params0`` is not finite, ``negloglik`` does
        not return a scalar, or is not finite at ``params0``.

    Example::

        >>> import jax.numpy as jnp, jaxglm as jg
        >>> y = jnp.array([1.0, 2.0, 4.0])
        >>> nll = lambda p, y: jnp.sum(0.5 * (y - p["m"]) ** 2)
        >>> res = jg.mle(nll, {"m": jnp.array(0.0)}, y)
        >>> round(float(res.params["m"]), 6), round(float(res.std_err["m"]), 6)
        (2.333333, 0.57735)
    """
    _check_solver(solver)
    params0 = jax.tree_util.tree_map(_as_float, params0)
    _validate(negloglik, params0, args)
    kind = "newton" if isinstance(solver, str) and solver == "newton" else "gradient"
    max_iter = DEFAULT_MAX_ITER[kind] if max_iter is None else max_iter
    if is_concrete(max_iter) and int(max_iter) < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if is_concrete(tol) and not float(tol) > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    return _mle_compiled(params0, args, max_iter, tol, negloglik=negloglik, solver=solver)


def _as_float(leaf):
    leaf = jnp.asarray(leaf)
    return leaf if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf.astype(jnp.result_type(float))


def _check_solver(solver):
    if isinstance(solver, str) and solver == "newton":
        return
    if not gradient.is_gradient_solver(solver):
        raise ValueError(f"unknown solver {solver!r}; valid solvers are 'newton', 'lbfgs' "
                         "or an optax GradientTransformation")


def _validate(negloglik, params0, args):
    """Static checks always (output shape); value checks on concrete inputs."""
    leaves = jax.tree_util.tree_leaves(params0)
    if not leaves:
        raise ValueError("params0 has no array leaves: there is nothing to estimate")
    out = jax.eval_shape(negloglik, params0, *args)
    if not hasattr(out, "shape") or out.shape not in ((), (1,)):
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"negloglik must return a scalar, got shape {shape}")
    if not is_concrete(params0, args):
        return
    flat, _ = ravel_pytree(params0)
    bad = ~np.isfinite(np.asarray(flat))
    if bad.any():
        raise ValueError(f"params0 contains non-finite values (flattened index {int(np.argmax(bad))})")
    value = float(np.asarray(negloglik(params0, *args)).reshape(()))
    if not np.isfinite(value):
        raise ValueError(f"negloglik is not finite at params0 (got {value}); choose other starting values")


@functools.partial(jit, static_argnames=("negloglik", "solver"))
def _mle_compiled(params0, args, max_iter, tol, *, negloglik, solver):
    flat0, unravel = ravel_pytree(params0)
    fun = _flat_objective(negloglik, unravel, args, flat0.dtype)
    tol = jnp.maximum(jnp.asarray(tol, flat0.dtype), 1000 * jnp.finfo(flat0.dtype).eps)

    def loop(_):
        if isinstance(solver, str) and solver == "newton":
            x, n_iter, status = newton(fun, flat0, max_iter=max_iter, tol=tol)
        else:
            gtol = tol * jnp.linalg.norm(jax.grad(fun)(flat0))
            state = gradient.minimize(fun, flat0, solver, max_iter=max_iter, gtol=gtol)
            x, n_iter, status = state.x, state.n_iter, state.status
        return x, (n_iter, status)

    # Derivatives of the estimate w.r.t. args from grad f = 0 (jaxglm.implicit), not through the loop.
    x, (n_iter, status) = implicit.root(jax.grad(fun), loop, flat0)
    return implicit.flag_unconverged(inference_at(negloglik, unravel(x), args, n_iter, status))


def _flat_objective(negloglik, unravel, args, dtype):
    return lambda flat: jnp.reshape(negloglik(unravel(flat), *args), ()).astype(dtype)


def inference_at(negloglik, params, args, n_iter, status):
    """Every ``MLEResult`` field at the estimate ``params`` (the loop's output).

    hessian = jax.hessian of the flattened negative log-likelihood, cov = its
    inverse; status becomes ``NONFINITE`` when the objective is not finite and
    ``SINGULAR`` when the Hessian is not positive definite.
    """
    flat, unravel = ravel_pytree(params)
    fun = _flat_objective(negloglik, unravel, args, flat.dtype)
    value = fun(flat)
    hessian = jax.hessian(fun)(flat)
    hessian = 0.5 * (hessian + hessian.T)
    positive = jnp.all(jnp.isfinite(jnp.linalg.cholesky(hessian)))
    cov = jnp.linalg.inv(hessian)
    std_err = unravel(jnp.sqrt(jnp.diagonal(cov)))
    status = jnp.where(jnp.isfinite(value), status, Status.NONFINITE)
    status = jnp.where((status == Status.CONVERGED) & ~positive, Status.SINGULAR, status)
    return MLEResult(params=params, hessian=hessian, cov=cov, std_err=std_err, loglik=-value,
                     n_iter=jnp.asarray(n_iter, jnp.int32), converged=status == Status.CONVERGED,
                     status=status.astype(jnp.int32))


def newton_direction(hessian, grad):
    """-(H + lambda I)^{-1} g with the smallest lambda in {0, c 10^j} making H + lambda I positive definite.

    c = 1e-8 (1 + max |diag H|); after ``MAX_DAMPING`` failures, -g.
    """
    eye = jnp.eye(grad.shape[0], dtype=grad.dtype)
    base = 1e-8 * (1 + jnp.max(jnp.abs(jnp.diagonal(hessian))))

    def solve(lam):
        chol = jnp.linalg.cholesky(hessian + lam * eye)
        return -jax.scipy.linalg.cho_solve((chol, True), grad)

    def cond(carry):
        k, d = carry
        return (k < MAX_DAMPING) & ~jnp.all(jnp.isfinite(d))

    def body(carry):
        k, _ = carry
        return k + 1, solve(base * 10.0 ** k)

    _, d = lax.while_loop(cond, body, (0, solve(jnp.zeros((), grad.dtype))))
    return jnp.where(jnp.all(jnp.isfinite(d)), d, -grad)


def backtrack(fun, x, value, grad, direction):
    """Largest t in {1, 1/2, 1/4, ...} with finite f(x + t d) <= f(x) + 1e-4 t g^T d (+ rounding slack)."""
    slope = grad @ direction
    slack = 10 * jnp.finfo(x.dtype).eps * (jnp.abs(value) + 1)

    def acceptable(t, new):
        return jnp.isfinite(new) & (new <= value + 1e-4 * t * slope + slack)

    t, new = halve(fun, x, direction, acceptable, MAX_HALVINGS)
    return x + t * direction, new, acceptable(t, new)


def newton(fun, x0, *, max_iter, tol):
    """Damped Newton from ``x0``; returns (x, n_iter, status)."""
    grad_fn = jax.grad(fun)
    # One forward-over-reverse pass gives both: H = jacfwd(grad), with grad as its aux output.
    grad_and_hessian = jax.jacfwd(lambda x: (grad_fn(x), grad_fn(x)), has_aux=True)

    def step(carry):
        x, value, n_iter, _, _ = carry
        H, g = grad_and_hessian(x)
        d = newton_direction(0.5 * (H + H.T), g)
        small = -(g @ d) < tol**2 * (jnp.abs(value) + 0.1)
        x_new, new, ok = backtrack(fun, x, value, g, d)
        n_iter = n_iter + 1
        # No acceptable step from a point where the decrement is already tiny: stationary to
        # working precision.  Otherwise the objective could not be decreased: report it.
        finite = jnp.all(jnp.isfinite(g))
        status = jnp.where(ok, jnp.where(small, Status.CONVERGED, Status.MAX_ITER),
                           jnp.where(small, Status.CONVERGED, Status.NONFINITE))
        status = jnp.where(finite, status, Status.NONFINITE)
        ok = ok & finite
        done = ~ok | small | (n_iter >= max_iter)
        return (jnp.where(ok, x_new, x), jnp.where(ok, new, value), n_iter, status.astype(jnp.int32), done)

    value0 = fun(x0)
    finite0 = jnp.isfinite(value0)
    status0 = jnp.where(finite0, Status.MAX_ITER, Status.NONFINITE).astype(jnp.int32)
    init = (x0, value0, jnp.asarray(0, jnp.int32), status0, ~finite0 | (max_iter <= 0))
    x, _, n_iter, status, _ = lax.while_loop(lambda c: ~c[4], step, init)
    return x, n_iter, status
