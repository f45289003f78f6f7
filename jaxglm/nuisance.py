"""``fit_ml``: a GLM's coefficients and its nuisance parameter, jointly by maximum likelihood.

``jg.fit`` estimates the coefficients and, where the family has one, a
dispersion by moments (Pearson chi2 / df_resid), with NegativeBinomial's
``alpha`` held fixed.  ``fit_ml`` instead maximises the family's own
log-likelihood ``sum_i family.loglik(y_i, mu_i, w_i, scale)`` over both:

=================  ============  ==========================================
family             nuisance      how it enters ``loglik``
=================  ============  ==========================================
Gaussian           ``sigma``     scale = sigma^2  (MLE: sqrt(sum w r^2 / n))
Gamma              ``shape``     scale = 1 / shape
NegativeBinomial   ``alpha``     the family's ``alpha`` (NB2: Var = mu + alpha mu^2)
=================  ============  ==========================================

The optimisation (``jg.mle``, Newton) runs in (coef, log nuisance) so the
parameter stays positive, started from the null model (least squares of
the linked mean of y on X) and a moment estimate.  The result is reported in the natural parametrisation:
``params = {"coef": (p,), name: ()}``, with the Hessian, covariance and
standard errors of the negative log-likelihood in (coef, nuisance) at the
optimum; there the gradient is zero, so this equals the delta method
applied to the log-scale fit (se(nu) = nu * se(log nu)).
"""

import copy

import jax
import jax.numpy as jnp

from ._compile import jit
from ._validate import input_is_valid, prepare, validate_values
from .families import Gamma, Gaussian, NegativeBinomial
from .mle import inference_at, mle
from .status import Status

DEFAULT_MAX_ITER = 100

NUISANCE = {Gaussian: "sigma", Gamma: "shape", NegativeBinomial: "alpha"}


def nuisance_name(family):
    """The name of ``family``'s nuisance parameter; ValueError for other families."""
    for cls, name in NUISANCE.items():
        if isinstance(family, cls):
            return name
    valid = ", ".join(cls.__name__ for cls in NUISANCE)
    raise ValueError(f"fit_ml estimates a nuisance parameter for {valid}; "
                     f"got {type(family).__name__} (use jg.fit)")


def with_nuisance(family, value):
    """(family, scale) at which ``family.loglik`` is evaluated for nuisance ``value``."""
    if isinstance(family, NegativeBinomial):
        family = copy.copy(family)
        object.__setattr__(family, "alpha", value)
        return family, jnp.ones_like(value)
    if isinstance(family, Gamma):
        return family, 1.0 / value
    return family, value**2


def negloglik(params, X, y, weights, offset, family):
    """-sum_i w>0 family.loglik(y_i, mu_i, w_i, scale) in the natural parametrisation."""
    name = nuisance_name(family)
    fam, scale = with_nuisance(family, params[name])
    mu = fam.link.inverse(X @ params["coef"] + offset)
    used = weights > 0
    terms = fam.loglik(y, mu, jnp.where(used, weights, 1.0), scale)
    return -jnp.sum(jnp.where(used, terms, 0.0))


def negloglik_log(params, X, y, weights, offset, family):
    """``negloglik`` with the nuisance parameter on the log scale (key ``"log_" + name``)."""
    name = nuisance_name(family)
    natural = {"coef": params["coef"], name: jnp.exp(params["log_" + name])}
    return negloglik(natural, X, y, weights, offset, family)


def start_params(family, X, y, weights, offset, name):
    """Starting values: least squares of link(mean y) - offset on X, and a moment estimate.

    With an intercept and no offset the coefficients start at the null model
    (a valid mean for every link).  Gaussian sigma and Gamma 1 / shape start
    at the root mean squared (Pearson) residual there; NegativeBinomial at the
    family's ``alpha``.
    """
    used = (weights > 0).astype(X.dtype)
    mean_y = jnp.sum(weights * y) / jnp.sum(weights)
    target = family.link.link(mean_y) - offset
    gram = (X.T * used) @ X
    coef = jnp.linalg.lstsq(gram, X.T @ (used * target))[0]
    coef = jnp.where(jnp.isfinite(coef), coef, 0.0)
    mu = family.link.inverse(X @ coef + offset)
    nobs = jnp.sum(used)
    if isinstance(family, NegativeBinomial):
        value = jnp.asarray(family.alpha, X.dtype)
    elif isinstance(family, Gamma):
        value = nobs / jnp.sum(used * weights * ((y - mu) / mu) ** 2)
    else:
        value = jnp.sqrt(jnp.sum(used * weights * (y - mu) ** 2) / nobs)
    value = jnp.where(jnp.isfinite(value) & (value > 0), value, 1.0)
    return {"coef": coef, "log_" + name: jnp.log(value)}


def fit_ml(X, y, family, *, weights=None, offset=None, max_iter=None, tol=1e-8):
    """Coefficients and nuisance parameter of a GLM, jointly by maximum likelihood.

    Args:
        X: (n, p) design; y: (n,) response.
        family: ``Gaussian``, ``Gamma`` or ``NegativeBinomial`` (its ``alpha``
            is only the starting value).  Any link.
        weights, offset: (n,) as in ``jg.fit``.
        max_iter, tol: passed to ``jg.mle`` (Newton; default max_iter 100).

    Returns:
        ``MLEResult`` with ``params = {"coef": (p,), name: ()}``, name one of
        ``"sigma"``, ``"shape"``, ``"alpha"``; ``hessian``/``cov`` (p+1, p+1)
        in ``ravel_pytree`` order, i.e. sorted keys: (coef..., sigma or
        shape), but (alpha, coef...); ``std_err`` in the same dict;
        ``loglik`` the maximised log-likelihood.  Jittable and vmappable
        (then invalid data gives ``status`` INVALID_INPUT); eager calls
        validate as ``jg.fit`` does.

    Example::

        >>> import numpy as np, jaxglm as jg
        >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
        >>> y = np.array([0.1, 1.2, 1.9, 3.2, 3.9, 5.1])
        >>> res = jg.fit_ml(X, y, jg.Gaussian())
        >>> sorted(res.params)
        ['coef', 'sigma']
    """
    nuisance_name(family)
    X, y, weights, offset, l2 = prepare(X, y, weights, offset, 0.0)
    max_iter = DEFAULT_MAX_ITER if max_iter is None else max_iter
    validate_values(family, X, y, weights, offset, l2, max_iter, tol)
    return _fit_ml_compiled(X, y, weights, offset, family, max_iter, tol)


@jit
def _fit_ml_compiled(X, y, weights, offset, family, max_iter, tol):
    name = nuisance_name(family)
    valid = input_is_valid(family, X, y, weights, offset, jnp.zeros(1, X.dtype))
    args = (X, y, weights, offset, family)
    start = start_params(family, X, y, weights, offset, name)
    res = mle(negloglik_log, start, *args, max_iter=jnp.where(valid, max_iter, 0), tol=tol)
    natural = {"coef": res.params["coef"], name: jnp.exp(res.params["log_" + name])}
    status = jnp.where(valid, res.status, Status.INVALID_INPUT)
    out = inference_at(negloglik, natural, args, res.n_iter, status)
    return out._replace(status=jnp.where(valid, out.status, Status.INVALID_INPUT).astype(jnp.int32),
                        converged=valid & out.converged)
