"""``fit``: maximum-likelihood fit of one GLM, with R's inference, in one compiled program.

The model: E[y] = mu = g^{-1}(X beta + offset), Var(y) = phi V(mu) / weight.
``fit`` maximises sum(loglik) - 1/2 sum(l2 * beta^2) (in deviance units it
minimises deviance + sum(l2 * beta^2)) by IRLS / Fisher scoring (default) or
Newton on the observed Hessian, both from autodiff of the family's
log-likelihood (see ``jaxglm.inference``), then computes every quantity of
``GLMResult`` at the estimate.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import implicit, inference
from ._batching import all_true, any_true, cond_any
from ._compile import jit
from ._validate import input_is_valid, prepare, validate_values
from ._pytree import is_concrete
from .families import (Binomial, Gaussian, NegativeBinomial, Poisson, Tweedie, with_whole_data,
                       without_whole_data)
from .result import GLMResult
from .solvers.gram import Design, gram_operator
from .solvers.irls import irls, masked_system, solve_spd, start
from .fit_gradient import DEFAULT_MAX_ITER as GRADIENT_MAX_ITER, gradient_fit
from .solvers.gradient import is_gradient_solver
from .status import Status

DEFAULT_MAX_ITER = 50
NEWTON_SOLVERS = {"irls": "expected", "newton": "observed"}


def fit(X, y, family=None, *, weights=None, offset=None, solver="irls",
        max_iter=None, tol=1e-8, l2=0.0):
    """Fit a GLM by maximum likelihood.

    Args:
        X: (n, p) design matrix; add the intercept column yourself.
        y: (n,) response (Binomial: proportions in [0, 1]).
        family: a ``jaxglm`` family (default ``Gaussian()``).
        weights: (n,) prior weights as R's ``glm(weights=)`` (Binomial: trials).
        offset: (n,) added to the linear predictor.
        solver: ``"irls"`` (Fisher scoring) or ``"newton"`` (observed Hessian);
            or ``"lbfgs"`` / any ``optax.GradientTransformation`` for the
            first-order loop of ``jaxglm.fit_gradient`` (prefer it only for very
            large p: it needs many more iterations and stops on a relative
            gradient norm ``tol``; see that module).
        max_iter: iteration cap (default 50; 1000 for gradient solvers).
        tol: R's criterion |dev - dev_old| / (|dev| + 0.1) < tol; floored at
            50 machine epsilons of the dtype (so float32 can converge; a float32 fit
            then takes one more Newton step: see ``polished``).
        l2: ridge penalty, scalar or (p,) (0 leaves a coefficient unpenalised);
            the objective is deviance + sum(l2 * coef**2).

    Returns:
        ``GLMResult``.  Works under ``jax.jit`` and ``jax.vmap`` (pass ``solver``
        via ``functools.partial`` inside a user's ``jit``).  Called eagerly on
        concrete arrays it raises ``ValueError`` for invalid input; traced, the
        result's ``status`` is ``INVALID_INPUT`` instead.

    Example::

        >>> import numpy as np, jaxglm as jg
        >>> X = np.column_stack([np.ones(5), np.arange(5.0)])
        >>> res = jg.fit(X, np.array([1.0, 0, 2, 4, 5]), jg.Poisson())
        >>> bool(res.converged)
        True
    """
    family = Gaussian() if family is None else family
    max_iter = resolve_solver(solver, max_iter)
    has_offset = offset is not None
    X, y, weights, offset, l2 = prepare(X, y, weights, offset, l2)
    validate_values(family, X, y, weights, offset, l2, max_iter, tol)
    if is_concrete(y, weights):  # count or 0/1 data: the fit compiles its table lookups alone
        family = with_whole_data(family, np.asarray(y), np.asarray(weights))
    result = _fit_compiled(X, y, family, weights, offset, l2, max_iter, tol,
                           solver=solver, has_offset=has_offset)
    return result._replace(family=without_whole_data(result.family))


def resolve_solver(solver, max_iter):
    """Check ``solver`` (ValueError listing the valid ones); return ``max_iter`` or its default."""
    gradient_solver = is_gradient_solver(solver)
    if not (gradient_solver or (isinstance(solver, str) and solver in NEWTON_SOLVERS)):
        valid = ", ".join(repr(s) for s in NEWTON_SOLVERS)
        raise ValueError(f"unknown solver {solver!r}; valid solvers are {valid}, "
                         "'lbfgs' or an optax GradientTransformation")
    if max_iter is None:
        return GRADIENT_MAX_ITER if gradient_solver else DEFAULT_MAX_ITER
    return max_iter


@functools.partial(jit, static_argnames=("solver", "has_offset"))
def _fit_compiled(X, y, family, weights, offset, l2, max_iter, tol, *, solver, has_offset):
    return fit_arrays(X, y, family, weights, offset, l2, max_iter, tol, solver=solver, has_offset=has_offset)


def effective_tol(tol, dtype):
    """``tol`` floored at 50 machine epsilons of ``dtype``."""
    return jnp.maximum(jnp.asarray(tol, dtype), 50 * jnp.finfo(dtype).eps)


def fit_arrays(X, y, family, weights, offset, l2, max_iter, tol, *, solver="irls", has_offset=True,
               design=None, differentiable=True):
    """The traceable fit on prepared arrays (no validation, no conversion).

    ``has_offset=False`` promises ``offset`` is zero, which lets the null
    deviance use its closed form instead of a second IRLS loop.  ``design``: a
    ``jaxglm.solvers.gram.Design`` of X when the caller has built one (``fit_many`` passes
    ``shared_gram_operator`` as its ``gram`` for a shared X, and an X^T it laid out on the host
    for a per-model X); default ``Design(X)``.  ``differentiable=False`` leaves out the
    implicit-derivative rules (``jaxglm.implicit``), for a caller that never differentiates
    (``fit_many`` on concrete arrays): same values, ~0.1 s less to trace and compile.
    """
    design = Design(X) if design is None else design  # every product with X, in its fast layout
    valid_input = input_is_valid(family, X, y, weights, offset, l2, Xt=design.Xt)
    tol = effective_tol(tol, X.dtype)
    loop_max_iter = jnp.where(valid_input, max_iter, 0)
    if is_gradient_solver(solver):
        kind = "expected"
        alias = aliased_columns(X, weights, used_gram=design.gram((weights > 0).astype(X.dtype)))
        beta0 = start_point(family, X, y, weights, offset, alias)
        loop = lambda: gradient_fit(X, y, family, weights, offset, l2, alias, optimizer=solver, tol=tol,
                                    max_iter=loop_max_iter, beta0=beta0)
    else:
        kind = NEWTON_SOLVERS[solver]
        working = inference.working_function(family, y, weights, kind)
        fallback = inference.working_function(family, y, weights, "expected") if kind == "observed" else None
        objective = inference.deviance_objective(family, y, weights)
        eta0, at_start = start_eta(family, y, weights)
        # The first step's system, built once: its Gram matrix also tells which columns are aliased.
        first = start(design, offset, eta0, working, objective, at_start)
        alias = start_aliased(first.gram, first.weight, X, weights)
        beta0 = start_point(family, X, y, weights, offset, alias)
        # Only fit_many's fits (not differentiable) read the loop's final Gram matrix (see below).
        loop = lambda: irls(X, offset, eta0, l2, alias, working, objective, max_iter=loop_max_iter, tol=tol,
                            fallback=fallback, beta0=beta0, design=design, first=first,
                            final_system=not differentiable)
    # Derivatives of beta by the implicit function theorem (jaxglm.implicit), not through the loop.
    state = implicit.glm_solution(loop, family, X, y, weights, offset, l2, alias) if differentiable else loop()
    status = jnp.where(valid_input, state.status, Status.INVALID_INPUT)
    # The loop's last Gram matrix is the information at the estimate, and its eta, mu and deviance
    # are those at the estimate; a differentiable fit computes them again from the differentiable
    # estimate (the loop's carry no derivative), and so does a float32 one, which polishes it.
    info_gram = fitted = None
    if not differentiable and not is_gradient_solver(solver):
        info_gram = state.gram
        fitted = None if polishes(X.dtype) else loop_fitted(state, family, X, y, weights, offset)
    result = assemble(X, y, family, weights, offset, l2, alias, state.beta, state.n_iter, status, kind=kind,
                      max_iter=max_iter, tol=tol, has_offset=has_offset, design=design,
                      info_gram=info_gram, fitted=fitted)
    return implicit.flag_unconverged(result) if differentiable else result


def start_eta(family, y, weights):
    """(eta0, (mu0, deviance0) or None): the loop's start, R's eta0 = link(mustart), with the
    mean and deviance there when the family has them in closed form (``start_values``)."""
    values = family.start_values(y, weights)
    if values is None:
        return family.link.link(family.init_mu(y, weights)), None
    eta, mu, deviance = values
    return eta, (mu, deviance)


def loop_fitted(state, family, X, y, weights, offset):
    """(eta, mu, deviance) at ``state.beta``: the IRLS loop's own, or (``cond_any``: only for a
    batch with such a model) computed afresh where the loop accepted no step, whose eta, mu and
    deviance are still those of the start point eta0."""

    def afresh(fam, X, y, weights, offset, beta, eta, mu, deviance):
        eta = X @ beta + offset
        mu = fam.link.inverse(eta)
        return eta, mu, total_deviance(fam, y, mu, weights)

    def kept(fam, X, y, weights, offset, beta, eta, mu, deviance):
        return eta, mu, deviance

    return cond_any_with_family(~state.accepted, afresh, kept, family, X, y, weights, offset, state.beta,
                                state.eta, state.mu, state.deviance)


def start_point(family, X, y, weights, offset, alias):
    """The valid point the first IRLS step is halved towards: zeros when the means at X 0 + offset
    are valid (any offset with a log or logit link), else ``start_beta``.

    ``start_beta`` (a least-squares solve and a product with X, ~6 us of a 130 us fit of
    workload A) runs only for a model, or under vmap a batch, that needs it (``cond_any``).
    """
    zeros_valid = all_true(family.valid_mu(family.link.inverse(offset)) | (weights == 0))

    def least_squares(fam, X, y, weights, offset, alias):
        used_gram = gram_operator(X)((weights > 0).astype(X.dtype))
        return start_beta(fam, X, y, weights, offset, alias, used_gram)

    def zeros(fam, X, *rest):
        return jnp.zeros(X.shape[1], X.dtype)

    return cond_any_with_family(~zeros_valid, least_squares, zeros, family, X, y, weights, offset, alias)


def cond_any_with_family(pred, true_fn, false_fn, family, *operands, compact=False):
    """``cond_any`` whose branches take ``family`` as their first argument: its leaves go in as
    operands (a branch must take every array it uses as an operand) and the branches get the
    family rebuilt from them; ``compact`` as in ``cond_any``."""
    leaves, tree = jax.tree_util.tree_flatten(family)
    n_leaves = len(leaves)

    def with_family(fn):
        return lambda *args: fn(jax.tree_util.tree_unflatten(tree, args[:n_leaves]), *args[n_leaves:])

    return cond_any(pred, with_family(true_fn), with_family(false_fn),
                    *[jnp.asarray(leaf) for leaf in leaves], *operands, compact=compact)


def start_beta(family, X, y, weights, offset, alias, used_gram):
    """A valid point to halve the first step towards: least squares of link(weighted mean y) - offset on X.

    With an intercept and no offset this is the intercept-only fit, whose mean
    (the mean of y) lies inside the family's range even for links that can leave
    it (identity for Poisson, log for Binomial); zeros where it is not finite.
    ``used_gram``: X^T diag(weights > 0) X.  (Only ``start_point``'s rarely taken branch
    calls it, so X^T z is the plain product.)
    """
    used = (weights > 0).astype(X.dtype)
    target = family.link.link(jnp.sum(weights * y) / jnp.sum(weights)) - offset
    system, rhs = masked_system(used_gram, X.T @ (used * target), alias)
    beta = solve_spd(system, rhs)
    return jnp.where(jnp.all(jnp.isfinite(beta)), beta, jnp.zeros_like(beta))


def aliased_columns(X, weights, used_gram=None):
    """(p,) bool: columns that are (numerically) linear combinations of earlier ones.

    On the weighted Gram matrix scaled to unit diagonal C, column j is aliased
    when its squared residual on the kept earlier columns,
    C_jj - C_jS C_SS^{-1} C_Sj (a Cholesky pivot), is below 1000 machine epsilons (R's pivoting
    QR in ``glm.fit`` keeps the first of a set of collinear columns too).
    ``used_gram``: X^T diag(weights > 0) X when the caller has it.
    """
    gram = gram_operator(X)((weights > 0).astype(X.dtype)) if used_gram is None else used_gram
    corr, diag = unit_diagonal(gram)
    p = X.shape[1]
    threshold = alias_threshold(X.dtype)
    index = jnp.arange(p)

    # A left-looking Cholesky of C that leaves out aliased columns: after column j,
    # L[:, :j] L[:, :j]^T = C restricted to the kept columns, so the pivot
    # C_jj - L[j] . L[j] is the squared residual of column j on the kept earlier ones.
    def body(j, carry):
        lower, alias = carry
        column = corr[:, j] - lower @ lower[j]
        residual = column[j]
        aliased = (residual < threshold) | (diag[j] <= 0)
        pivot = jnp.sqrt(jnp.where(aliased, 1.0, residual))
        new = jnp.where((index >= j) & ~aliased, column / pivot, 0.0)
        return lower.at[:, j].set(new), alias.at[j].set(aliased)

    empty = (jnp.zeros((p, p), corr.dtype), jnp.zeros(p, bool))
    return lax.fori_loop(0, p, body, empty)[1]


def start_aliased(gram, weight, X, weights):
    """``aliased_columns(X, weights)``, read off the first step's Gram matrix X^T W X when that
    is clearly of full rank.

    With the working weights W in [a, b], a > 0, on the observations with weight > 0, a
    column's squared residual on the others (in the unit-diagonal scaling) is at most b / a
    times larger with W than without, so when every squared Cholesky pivot of the scaled
    ``gram`` is at least (b / a) 1000 eps no column is aliased on X^T diag(weights > 0) X
    either.  Otherwise (collinear or nearly collinear columns, weights not all positive, a
    non-finite system) ``aliased_columns`` decides on that unweighted matrix; under ``vmap`` it
    runs only for a batch with such a model (``cond_any``).  The answer is ``aliased_columns``'
    in every case; the common one costs a Cholesky factorisation of a matrix the fit builds
    anyway instead of a Gram matrix and a column-by-column loop.
    """
    used = weights > 0
    low = jnp.min(jnp.where(used, weight, jnp.inf))
    high = jnp.max(jnp.where(used, weight, 0.0))
    clear = (low > 0) & jnp.all(squared_pivots(gram) >= alias_threshold(gram.dtype) * (high / low))
    none_aliased = lambda X, weights: jnp.zeros(X.shape[1], bool)
    return cond_any(~clear, aliased_columns, none_aliased, X, weights)


def unit_diagonal(gram):
    """(C, diag): ``gram`` scaled to unit diagonal, C = D^-1/2 gram D^-1/2 (rows and columns of a
    zero diagonal entry left at zero), and gram's diagonal."""
    diag = jnp.diagonal(gram)
    inv_sd = jnp.where(diag > 0, 1.0 / jnp.sqrt(jnp.where(diag > 0, diag, 1.0)), 0.0)
    return gram * inv_sd[:, None] * inv_sd[None, :], diag


def alias_threshold(dtype):
    """The squared residual on the unit-diagonal Gram below which a column counts as aliased."""
    return 1000 * jnp.finfo(dtype).eps


def has_constant_column(X, weights, Xt=None):
    """True when some column is constant and non-zero over observations with weight > 0.

    ``Xt``: X^T when the caller has it (each column is then a contiguous row).  Both forms stay:
    with no X^T (a large X) comparing along X^T's rows made XLA copy a transposed X (61 ms of a
    0.7 s fit at n = 400,000, p = 50), and on a small X^T the row form is about twice as fast."""
    used = weights > 0
    if Xt is None:
        first = X[jnp.argmax(used)]
        same = all_true((X == first) | ~used[:, None], axis=0)
    else:
        first = Xt[:, jnp.argmax(used)]
        same = all_true((Xt == first[:, None]) | ~used, axis=1)
    return jnp.any(same & (first != 0))


def null_mean(family, y, weights, offset, has_intercept, max_iter, tol, has_offset):
    """Fitted mean of R's null model: intercept only (with offset) or offset alone; (n,), or ()
    without an offset.

    Without an offset the intercept-only MLE is the weighted mean of y (any link), and the mean
    at offset 0 is the inverse link of 0: one value, so the null deviance's logarithms of it are
    taken once, not once per observation (XLA computes log(broadcast(m)) as broadcast(log(m))).
    """
    mean_y = jnp.sum(weights * y) / jnp.sum(weights)
    if not has_offset:
        return jnp.where(has_intercept, mean_y, family.link.inverse(jnp.zeros((), y.dtype)))
    ones = jnp.ones((y.shape[0], 1), y.dtype)
    working = inference.working_function(family, y, weights, "expected")
    objective = inference.deviance_objective(family, y, weights)
    eta0 = family.link.link(family.init_mu(y, weights))
    no_l2, no_alias = jnp.zeros(1, y.dtype), jnp.zeros(1, bool)
    loop = lambda: irls(ones, offset, eta0, no_l2, no_alias, working, objective, max_iter=max_iter, tol=tol,
                        final_system=False)
    state = implicit.glm_solution(loop, family, ones, y, weights, offset, no_l2, no_alias)
    return jnp.where(has_intercept, family.link.inverse(state.eta), family.link.inverse(offset))


def assemble(X, y, family, weights, offset, l2, alias, beta, n_iter, status, *, kind, max_iter, tol,
             has_offset=True, design=None, info_gram=None, fitted=None):
    """Every field of ``GLMResult`` at the estimate ``beta`` (``design``: ``Design(X)`` if built;
    ``info_gram``: X^T W X with the ``kind`` weights at ``beta`` and ``fitted``: (eta, mu,
    deviance) at ``beta``, when the caller has them)."""
    design = Design(X) if design is None else design
    dtype = X.dtype
    if fitted is None:
        eta = design.matvec(beta) + offset
        mu = family.link.inverse(eta)
    else:
        eta, mu, fitted_deviance = fitted
    used = weights > 0
    nobs = jnp.sum(used).astype(dtype)
    rank = (X.shape[1] - jnp.sum(alias)).astype(dtype)
    df_resid = nobs - rank

    score, info_weight = inference.working_function(family, y, weights, kind)(eta, mu)
    gram = design.gram(info_weight) if info_gram is None else info_gram
    information, gradient = masked_system(gram + jnp.diag(l2), design.rmatvec(score) - l2 * beta, alias)
    inv_information = solve_spd(information, jnp.eye(information.shape[-1], dtype=dtype))
    newton_step = inv_information @ gradient
    # Newton decrement: the deviance decrease one more Newton step predicts (~0 at an optimum).
    decrement = gradient @ newton_step
    singular = ~jnp.all(jnp.isfinite(inv_information)) | ~jnp.all(jnp.diagonal(inv_information) > 0)
    if polishes(dtype):
        beta = polished(beta, newton_step, status)
        eta = design.matvec(beta) + offset
        mu = family.link.inverse(eta)

    deviance = total_deviance(family, y, mu, weights) if fitted is None else fitted_deviance
    pearson = jnp.sum(jnp.where(used, weights * (y - mu) ** 2 / family.variance(mu), 0.0))
    scale = jnp.ones((), dtype) if family.scale_fixed else pearson / df_resid
    nan_aliased = alias[:, None] | alias[None, :]
    cov = jnp.where(nan_aliased, jnp.nan, scale * inv_information)
    coef = jnp.where(alias, jnp.nan, beta)
    std_err, statistic, p_value = inference.wald(coef, cov, None if family.scale_fixed else df_resid)

    loglik = inference.r_loglik(family, y, mu, weights, deviance, nobs)
    n_params = rank + (0 if family.scale_fixed else 1)
    aic, bic = inference.information_criteria(loglik, n_params, nobs)
    intercept = has_constant_column(X, weights, Xt=design.Xt)
    null_mu = null_mean(family, y, weights, offset, intercept, max_iter, tol, has_offset)
    null_deviance = total_deviance(family, y, null_mu, weights)

    status = refine_status(family, status, mu, used, alias, singular, X, y=y, Xt=design.Xt,
                           stationary=is_stationary(decrement, deviance, tol))
    converged = (status == Status.CONVERGED) | (status == Status.ALIASED)
    return GLMResult(
        coef=coef, cov=cov, std_err=std_err, statistic=statistic, p_value=p_value, scale=scale,
        deviance=deviance, null_deviance=null_deviance, pearson_chi2=pearson, loglik=loglik,
        aic=aic, bic=bic, nobs=nobs, df_resid=df_resid, df_model=rank - intercept.astype(dtype),
        n_iter=n_iter, converged=converged, status=status.astype(jnp.int32), aliased=alias,
        family=family)


def total_deviance(family, y, mu, weights):
    """sum(weights * d(y, mu)) over the observations with weight > 0 (mu: (n,) or one value)."""
    return jnp.sum(jnp.where(weights > 0, weights * family.unit_deviance(y, mu), 0.0))


def polishes(dtype):
    """True for a dtype whose 50-epsilon floor on ``tol`` exceeds R's default 1e-8 (float32)."""
    return 50 * float(jnp.finfo(dtype).eps) > 1e-8


def polished(beta, step, status):
    """``beta`` plus the Newton (IRLS: Fisher scoring) step from the estimate, for a converged fit.

    In float32 R's rule stops at |dev - dev_old| / (|dev| + 0.1) < 50 eps (6e-6), which
    leaves the coefficients about 1e-5 from the optimum; ``assemble`` has the information and
    gradient at the estimate anyway, and one more step (quadratic convergence) brings them to
    float32 precision.  No derivative flows through the step (it is ~0 at the optimum), and a
    fit that did not converge, or a non-finite step, is left as it is.
    """
    ok = (status == Status.CONVERGED) & jnp.all(jnp.isfinite(step))
    return beta + lax.stop_gradient(jnp.where(ok, step, 0.0))


def is_stationary(decrement, deviance, tol):
    """True when the Newton decrement g' I^{-1} g (the deviance decrease one more
    Newton step predicts) is below max(1000 tol, sqrt(eps)) (|deviance| + 0.1).

    At an optimum reached by R's rule it is of order tol (|deviance| + 0.1) or
    smaller; a loop pinned by the edge of the mean's range (Binomial
    probabilities that round to exactly 0 or 1 under separation) stops with a
    decrement of order the deviance itself.  NaN (singular information) counts
    as stationary: that case is reported as SINGULAR.
    """
    dtype = jnp.result_type(deviance)
    relative = jnp.maximum(1000 * tol, jnp.sqrt(jnp.finfo(dtype).eps))
    return ~(decrement > relative * (jnp.abs(deviance) + 0.1))


def refine_status(family, status, mu, used, alias, singular, X=None, *, y=None, Xt=None, stationary=True):
    """Turn a loop status into the final one: separation, singular information, aliasing.

    Order: a loop failure other than separation stays; separation (Binomial
    probabilities at 0 or 1, or count means at 0: see ``separated``) overrides
    CONVERGED, MAX_ITER and NONFINITE; then SINGULAR; then ALIASED for a
    converged fit with aliased columns.
    """
    ok = status == Status.CONVERGED
    if isinstance(family, BOUNDARY_FAMILIES) and X is not None and y is not None:
        eps = jnp.finfo(mu.dtype).eps
        blocked = (status == Status.NONFINITE) | ~jnp.asarray(stationary)
        candidate = ok | (status == Status.MAX_ITER) | (status == Status.NONFINITE)
        near = boundary_observations(family, y, mu, used, eps ** 0.25)

        def separation_test(fam, X, Xt, used, alias, y, mu, blocked):
            near = boundary_observations(fam, y, mu, used, eps ** 0.25)
            pinned = boundary_observations(fam, y, mu, used, jnp.sqrt(eps))
            return separated(X, Xt, near, used, alias) | (blocked & any_true(pinned))

        # Both tests need a boundary observation (the pinned ones are near ones too): they run
        # only for a batch with one (``cond_any``), and in float32 for its models with one alone
        # (``compact_separation_test``).  Those models' operands are gathered, so
        # the fewest go in: X^T without X when the fit has it; the near observations are found
        # again inside.
        sep = cond_any_with_family(any_true(near), separation_test, lambda *_: jnp.asarray(False),
                                   family, X if Xt is None else None, Xt, used, alias, y, mu, blocked,
                                   compact=compact_separation_test(mu.dtype))
        status = jnp.where(candidate & sep, Status.SEPARATION, status)
        ok = status == Status.CONVERGED
    status = jnp.where(ok & singular, Status.SINGULAR, status)
    ok = status == Status.CONVERGED
    return jnp.where(ok & jnp.any(alias), Status.ALIASED, status)


def compact_separation_test(dtype):
    """True when ``refine_status`` runs the separation test for the models with a near
    observation alone (``cond_any(..., compact=True)``) rather than for the whole batch.

    The near threshold eps^(1/4) is 0.019 in float32 and catches an observation in ~20% of the
    well-posed models of workloads A and A' (every chunk of 26 has some), against ~0.05% in
    float64 (1.2e-4).  Gathering the few models paid in float32 (a chunk's CPU per model 86 -> 81
    us on A, 76 -> 71 on A', 2026-11-24); in float64 the test almost never runs, and the
    gathering loop would only add ~0.1 s to every compile.
    """
    return float(jnp.finfo(dtype).eps) ** 0.25 > 1e-3


#: Families whose mean can run to the edge of its range while the likelihood keeps improving.
BOUNDARY_FAMILIES = (Binomial, Poisson, NegativeBinomial, Tweedie)


def boundary_observations(family, y, mu, used, delta):
    """(n,) bool: fitted means within ``delta`` of the edge of the range that y sits on.

    Binomial: y = 0 and mu < delta, or y = 1 and mu > 1 - delta; count families
    (Poisson, NegativeBinomial, Tweedie): y = 0 and mu < delta * max(1, mean y)
    (the mean, not the largest count: with counts in the thousands a legitimate
    mean of 0.1 is not on the edge, and testing it cost the rank test for ~half
    the chunks of a batch).  An observation whose y is not on the edge (a rare
    success with a small fitted probability) is never a boundary observation.
    """
    if isinstance(family, Binomial):
        edge = ((y == 0) & (mu < delta)) | ((y == 1) & (mu > 1 - delta))
    else:
        # A float count (an integer sum is two XLA:CPU kernels); only a threshold depends on it.
        scale = jnp.maximum(jnp.sum(jnp.where(used, y, 0)) / jnp.maximum(jnp.sum(used.astype(y.dtype)), 1), 1)
        edge = (y == 0) & (mu < delta * scale)
    return used & edge


def separated(X, Xt, boundary, used, alias):
    """Separation: the fit is carried off to the edge of the range by the ``boundary`` observations.

    Binomial (quasi-)complete separation puts fitted probabilities at 0 or 1 for
    observations whose y is 0 or 1; a count model for a group with only zero
    counts puts its means at 0 (R warns "fitted rates numerically 0").  True when
    removing the boundary observations loses rank: a direction in which their
    fitted values run off to +-infinity is determined by them alone, so the MLE
    does not exist.  Complete separation makes every observation a boundary one;
    well-posed data with a few extreme but legitimate fitted values keep full
    rank without them.  (``refine_status`` also flags a loop that stopped,
    blocked and not stationary, with probabilities rounded to exactly 0 or 1.)
    Boundary thresholds: eps**(1/4) here (1.2e-4 in float64, 0.019 in
    float32), sqrt(eps) for the blocked case.  ``Xt``: the fit's X^T when it has one (else None),
    so the rarely taken branch does not transpose X again; X may then be None.
    """
    design = Design(X, Xt=Xt)
    gram = design.gram((used & ~boundary).astype(design.X.dtype))
    return any_true(boundary) & loses_rank(gram, alias)


def loses_rank(gram, alias):
    """True when a column not in ``alias`` is (numerically) a linear combination of the earlier
    ones on the Gram matrix ``gram``: what ``jnp.any(aliased_columns(...) & ~alias)`` says, by
    one Cholesky factorisation instead of ``aliased_columns``' column-by-column loop.

    On the Gram matrix scaled to unit diagonal C, with the ``alias`` columns replaced by the
    identity, the squared Cholesky pivots are the squared residuals of each column on the earlier
    ones up to the first column that loses rank, where both tests first agree it is below 1000
    machine epsilons (a failed factorisation is NaN: lost).  A column all zero is lost too.
    """
    return ~jnp.all(squared_pivots(gram, alias) >= alias_threshold(gram.dtype))


def squared_pivots(gram, alias=None):
    """(p,) squared Cholesky pivots of ``gram`` scaled to unit diagonal (``unit_diagonal``), the
    ``alias`` rows and columns replaced by the identity: column j's squared residual on the
    earlier columns, up to the first that loses rank (NaN from there when the factorisation
    fails)."""
    corr, diag = unit_diagonal(gram)
    if alias is not None:
        corr, _ = masked_system(corr, diag, alias)
    return jnp.diagonal(jnp.linalg.cholesky(corr)) ** 2
