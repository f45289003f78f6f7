"""Per-observation derivatives from autodiff, and inference at the optimum.

Derivatives of a family's log-likelihood l(y, mu) with respect to the linear
predictor eta (mu = g^{-1}(eta)), all from ``jax.grad``/``jax.jvp``:

* score       s_i  = d l_i / d eta_i
* observed    w_i  = -d^2 l_i / d eta_i^2                      (Newton)
* expected    w_i  = (d mu_i / d eta_i)^2  d^2 l_i / (d mu_i d y_i)   (IRLS)

The last identity holds because l is linear in y for an exponential
dispersion family: d l / d mu = w (y - mu) / (phi V(mu)), so
E[-d^2 l / d mu^2] = w / (phi V(mu)) = d^2 l / (d mu d y).
"""

import jax
import jax.numpy as jnp
from jax import lax

from ._stats import two_sided_p


def _per_obs_grad(fn, x):
    """Elementwise derivative of a separable elementwise function."""
    return jax.grad(lambda v: jnp.sum(fn(v)))(x)


def score_and_observed(family, y, weight, eta, mu=None):
    """(d l / d eta, -d^2 l / d eta^2), each (n,), at scale 1 (both by autodiff through the
    link at eta: ``mu`` is accepted for the solvers' common signature and not used)."""
    loglik = lambda e: family.loglik_kernel(y, family.link.inverse(e), weight, 1.0)
    score_fn = lambda e: _per_obs_grad(loglik, e)
    score, second = jax.jvp(score_fn, (eta,), (jnp.ones_like(eta),))
    return score, -second


def score_and_expected(family, y, weight, eta, mu=None):
    """(d l / d eta, expected information weight), each (n,), at scale 1; ``mu``: the mean at
    eta, when the caller has it (else computed here)."""
    mu = family.link.inverse(eta) if mu is None else mu
    # The barrier keeps mu and dmu/deta opaque to XLA's simplifier, which otherwise rewrites
    # y / exp(eta) as y * exp(-eta) and products of exps into new exps (4 exps instead of 1).
    mu, dmu_deta = lax.optimization_barrier((mu, family.link.inverse_deriv_at(eta, mu)))
    dl_dmu = lambda yy: _per_obs_grad(lambda m: family.loglik_kernel(yy, m, weight, 1.0), mu)
    score_mu, info_mu = jax.jvp(dl_dmu, (y,), (jnp.ones_like(y),))
    # (info * dmu) * dmu, not info * dmu**2: dmu**2 overflows first for huge means (log link, y ~ 1e200)
    return score_mu * dmu_deta, (info_mu * dmu_deta) * dmu_deta


def working_function(family, y, weight, kind):
    """(eta, mu=None) -> (score, weight) for ``kind`` 'expected' (IRLS) or 'observed' (Newton);
    mu: the mean at eta when the caller has it (the solvers carry the objective's)."""
    fn = score_and_expected if kind == "expected" else score_and_observed
    return lambda eta, mu=None: fn(family, y, weight, eta, mu)


def deviance_objective(family, y, weight):
    """eta -> (deviance, finite, mu): +inf when a mean with weight > 0 is outside the family's
    range; mu, the mean at eta, is returned for the next working-weight evaluation (IRLS then
    computes the inverse link once per iteration, not twice).

    The invalid means are counted by a float sum beside the deviance's (a boolean
    all-reduction costs XLA:CPU two more kernels per evaluation).
    """

    terms = family.deviance_eta_terms(y, weight)  # built once, outside the solver's loop

    def objective(eta):
        mu = family.link.inverse(eta)
        dev = jnp.sum(terms(eta))
        invalid = jnp.sum(jnp.where(family.valid_mu(mu) | (weight == 0), 0.0, 1.0))
        dev = jnp.where(invalid == 0, dev, jnp.inf)
        return dev, jnp.isfinite(dev), mu

    return objective


def pearson_chi2(family, y, mu, weight):
    """sum(weight (y - mu)^2 / V(mu))."""
    return jnp.sum(weight * (y - mu) ** 2 / family.variance(mu))


def r_loglik(family, y, mu, weight, deviance, nobs):
    """R's ``logLik.glm``: sum of log densities at R's dispersion; NaN without a density.

    For a family whose deviance is twice the log-likelihood ratio to the saturated model
    (``Family.loglik_from_deviance``) this is sum(saturated_loglik) - deviance / (2 scale):
    the density at mu (a logarithm per observation) is not evaluated again.
    """
    scale = family.loglik_scale(deviance, weight, nobs)
    safe_weight = jnp.where(weight > 0, weight, 1.0)
    if family.loglik_from_deviance:
        saturated = family.saturated_loglik(y, safe_weight, scale)
        value = jnp.sum(jnp.where(weight > 0, saturated, 0.0)) - deviance / (2 * scale)
    else:
        value = jnp.sum(jnp.where(weight > 0, family.loglik(y, mu, safe_weight, scale), 0.0))
    return value if family.has_density else jnp.full_like(value, jnp.nan)


def wald(coef, cov, reference_df):
    """std_err, statistic and two-sided p-value from ``cov`` (normal when ``reference_df`` is None)."""
    std_err = jnp.sqrt(jnp.diagonal(cov))
    statistic = coef / std_err
    return std_err, statistic, two_sided_p(statistic, reference_df)


def information_criteria(loglik, n_params, nobs):
    """(AIC, BIC) = (-2 loglik + 2 k, -2 loglik + log(nobs) k)."""
    return -2 * loglik + 2 * n_params, -2 * loglik + jnp.log(nobs) * n_params
