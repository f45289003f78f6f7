"""Derivatives of a fitted estimate by the implicit function theorem, never by unrolling a loop.

An estimate x* is produced by a loop (``lax.while_loop``: not differentiable in
reverse mode, and wasteful to differentiate in forward mode).  At the optimum
it solves the first-order condition F(x*, theta) = 0, where theta is
everything F closes over (data, penalty, family parameters).  Differentiating
that identity gives

    dx*/dtheta . dtheta = -(dF/dx)^{-1} (dF/dtheta . dtheta),

one linear solve with the (k, k) Jacobian dF/dx (the Hessian of the
objective, for F a gradient).  ``root`` attaches this rule to the loop's
output with ``lax.custom_root``: the loop runs once on plain values, the
tangent rule is linear in dtheta, so JAX derives forward mode (``jax.jvp``,
``jax.jacfwd``) and transposes it for reverse mode (``jax.grad``,
``jax.jacrev``); ``jax.vmap`` composes with both.

``flag_unconverged`` multiplies every tangent of a result by
where(converged, 1, nan), so a fit that did not converge gives NaN
derivatives instead of silently wrong ones.

What is differentiable (``jg.fit``; derivatives with respect to X, y,
weights, offset, l2 and the family's parameters, e.g. NegativeBinomial
``alpha``, Tweedie ``power``, in forward and reverse mode, under ``jit`` and
``vmap``):

* ``coef`` (through ``penalised_score`` below), hence everything computed from
  it: ``cov``, ``std_err``, ``statistic``, ``p_value`` (through the statistic;
  the degrees of freedom are counts), ``scale``, ``deviance``,
  ``pearson_chi2``, ``loglik``, ``aic``, ``bic`` and the fitted means
  ``jg.predict(res, X)``.  ``cov`` is the inverse of the information the
  solver used (expected for IRLS, observed for Newton), differentiated as such.
* ``null_deviance``: with an offset its intercept comes from a second loop,
  made differentiable the same way; it does not depend on X or l2 (derivative
  0), except through the discrete choice of whether X has a constant column.
* Not differentiable (zero tangent): the counts ``nobs``, ``df_resid``,
  ``df_model``, and ``n_iter``, ``converged``, ``status``, ``aliased``.
* An aliased coefficient is NaN with derivative 0; the others are exact.
* A fit whose ``converged`` is False (any status but CONVERGED or ALIASED)
  has NaN derivatives in every floating field.
* The derivative is exact at the returned estimate, so it is as accurate as
  the estimate: IRLS with a non-canonical link (NegativeBinomial, Tweedie
  with log link) converges linearly and stops on R's deviance rule with the
  coefficients accurate to about sqrt(tol) relative; use ``solver="newton"``
  or a smaller ``tol`` when derivatives must be accurate to many digits.

``jg.mle``: ``params``, ``hessian``, ``cov``, ``std_err`` and ``loglik`` are
differentiable with respect to the data ``*args`` (not ``params0``), from
grad negloglik = 0; ``n_iter``, ``converged``, ``status`` are not.

Example::

    >>> import jax, jax.numpy as jnp
    >>> from jaxglm.implicit import root
    >>> def sqrt_by_loop(a):            # Newton loop for x^2 = a, not differentiated
    ...     residual = lambda x: x**2 - a
    ...     body = lambda i, x: x - residual(x) / (2 * x)
    ...     loop = lambda guess: (jax.lax.fori_loop(0, 30, body, guess), None)
    ...     return root(residual, loop, jnp.ones(1))[0]
    >>> float(jax.grad(lambda a: sqrt_by_loop(a)[0])(4.0))   # d sqrt(a)/da = 1/(2 sqrt(a))
    0.25
"""

import jax
import jax.numpy as jnp
from jax import lax


def dense_tangent_solve(linear, rhs):
    """Solve linear(x) = rhs for x by forming the (k, k) Jacobian of ``linear`` (k small)."""
    eye = jnp.eye(rhs.shape[0], dtype=rhs.dtype)
    jacobian = jax.vmap(linear)(eye).T
    return jnp.linalg.solve(jacobian, rhs)


def root(residual, solve, guess):
    """``(x, aux) = solve(guess)``, with dx/dtheta from ``residual(x) = 0``.

    Args:
        residual: x -> F(x), shape (k,) -> (k,); the parameters theta it
            closes over (arrays, tracers, pytrees) are what derivatives flow to.
        solve: guess -> (x, aux): any loop; it is never differentiated, and
            ``aux`` (diagnostics) gets no tangents.  Integer leaves of ``aux``
            travel as floats of x's dtype (exact below 2**24 in float32).
        guess: (k,) array passed to ``solve``.

    Returns:
        (x, aux) with dx = -(dF/dx)^{-1} (dF/dtheta . dtheta).
    """
    aux_dtypes = []

    def float_solve(_f, x0):
        # lax.custom_root gives aux zero tangents of the aux dtype, which JAX rejects for
        # integer/bool leaves (their tangents must be float0): pass them as floats.
        x, aux = solve(x0)
        leaves, tree = jax.tree_util.tree_flatten(aux)
        aux_dtypes[:] = [tree, [jnp.result_type(leaf) for leaf in leaves]]
        return x, [jnp.asarray(leaf).astype(x.dtype) for leaf in leaves]

    x, leaves = lax.custom_root(residual, guess, float_solve, dense_tangent_solve, has_aux=True)
    tree, dtypes = aux_dtypes
    aux = [lax.stop_gradient(leaf).astype(dtype) for leaf, dtype in zip(leaves, dtypes)]
    return x, jax.tree_util.tree_unflatten(tree, aux)


@jax.custom_jvp
def _flag(x, ok):
    return x


@_flag.defjvp
def _flag_jvp(primals, tangents):
    x, ok = primals
    return x, tangents[0] * jnp.where(ok, 1.0, jnp.nan).astype(tangents[0].dtype)


def flag_tangents(tree, ok):
    """``tree`` unchanged; the tangent of each floating leaf multiplied by where(ok, 1, nan)."""
    def flag(leaf):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            return _flag(leaf, jnp.asarray(ok))
        return leaf
    return jax.tree_util.tree_map(flag, tree)


def flag_unconverged(result, skip=("family",)):
    """A result NamedTuple whose floating fields have NaN tangents where ``result.converged`` is False."""
    fields = {name: flag_tangents(value, result.converged)
              for name, value in result._asdict().items() if name not in skip}
    return result._replace(**fields)


def penalised_score(family, X, y, weights, offset, l2, alias):
    """F(beta) = X^T score(X beta + offset) - l2 * beta, the GLM's first-order condition.

    score_i = d loglik_i / d eta_i at scale 1 (the family's log-likelihood, by
    autodiff); F is the gradient of sum(loglik) - 1/2 sum(l2 beta^2), i.e.
    -1/2 the gradient of the objective deviance + sum(l2 beta^2) that the
    solvers minimise.  Aliased coefficients (held at 0) get F_j = beta_j, so
    the Jacobian stays invertible and their derivative is 0.
    """
    def penalised_loglik(beta):
        mu = family.link.inverse(X @ beta + offset)
        return jnp.sum(family.loglik_kernel(y, mu, weights, 1.0)) - 0.5 * jnp.sum(l2 * beta**2)

    return lambda beta: jnp.where(alias, beta, jax.grad(penalised_loglik)(beta))


def glm_solution(loop, family, X, y, weights, offset, l2, alias):
    """Run ``loop() -> state`` (a solver's final state with ``beta``) and make ``beta`` differentiable.

    Derivatives of ``state.beta`` with respect to X, y, weights, offset, l2
    and the family's parameters come from ``penalised_score`` = 0; ``eta`` is
    recomputed from the differentiable ``beta``; other fields get no tangent.
    """
    residual = penalised_score(family, X, y, weights, offset, l2, alias)
    beta, state = root(residual, lambda _: (lambda s: (s.beta, s))(loop()),
                       jnp.zeros(X.shape[1], X.dtype))
    fields = {"beta": beta}
    if "eta" in state._fields:
        fields["eta"] = X @ beta + offset
    return state._replace(**fields)
