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
parameter stays positive, started from ``jg.fit``'s coefficients and a
moment estimate.  The result is reported in the natural parametrisation:
``params = {"coef": (p,), name: ()}``, with the Hessian, covariance and
standard errors of the negative log-likelihood in (coef, nuisance) at the
optimum; there the gradient is zero, so this equals the delta method
applied to the log-scale fit (se(nu) = nu * se(log nu)).
"""

import copy

import jax
import jax.numpy as jnp

from ._validate import prepare, validate_values
from .families import Gamma, Gaussian, NegativeBinomial
from .fit import fit
from .mle import inference_at, mle

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


def start_value(family, glm, nobs):
    """A moment estimate of the nuisance parameter from the GLM fit."""
    if isinstance(family, NegativeBinomial):
        return jnp.asarray(family.alpha, glm.coef.dtype)
    if isinstance(family, Gamma):
        return 1.0 / glm.scale
    return jnp.sqrt(glm.deviance / nobs)


def fit_ml(X, y, family, *, weights=None, offset=None, max_iter=None, tol=1e-8):
    """Coefficients and nuisance parameter of a GLM, jointly by maximum likelihood.

    Args:
        X: (n, p) design; y: (n,) response.
        family: ``Gaussian``, ``Gamma`` or ``NegativeBinomial`` (its ``alpha``
            is only the starting value).  Any link.
        weights, offset: (n,) as in ``jg.fit``.
        max_iter, tol: passed to ``jg.mle`` (Newton).

    Returns:
        ``MLEResult`` with ``params = {"coef": (p,), name: ()}``, name one of
        ``"sigma"``, ``"shape"``, ``"alpha"``; ``hessian``/``cov`` (p+1, p+1)
        in the order (coef..., nuisance); ``std_err`` in the same dict;
        ``loglik`` the maximised log-likelihood.  Jittable and vmappable;
        eager calls validate as ``jg.fit`` does.

    Example::

        >>> import numpy as np, jaxglm as jg
        >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
        >>> y = np.array([0.1, 1.2, 1.9, 3.2, 3.9, 5.1])
        >>> res = jg.fit_ml(X, y, jg.Gaussian())
        >>> sorted(res.params)
        ['coef', 'sigma']
    """
    name = nuisance_name(family)
    X, y, weights, offset, l2 = prepare(X, y, weights, offset, 0.0)
    validate_values(family, X, y, weights, offset, l2, 1, tol)
    glm = fit(X, y, family, weights=weights, offset=offset)
    nobs = jnp.sum(weights > 0).astype(X.dtype)
    start = {"coef": glm.coef, "log_" + name: jnp.log(start_value(family, glm, nobs))}
    args = (X, y, weights, offset, family)
    res = mle(negloglik_log, start, *args, max_iter=max_iter, tol=tol)
    natural = {"coef": res.params["coef"], name: jnp.exp(res.params["log_" + name])}
    return _inference(natural, args, res.n_iter, res.status)


@jax.jit
def _inference(natural, args, n_iter, status):
    return inference_at(negloglik, natural, args, n_iter, status)
