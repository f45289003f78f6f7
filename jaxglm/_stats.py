"""Normal and Student-t tail probabilities and quantiles in pure JAX (no scipy).

* ``two_sided_p(stat, df)``: 2 P(|T| > |stat|); T ~ N(0, 1) where ``df`` is inf,
  Student t with ``df`` degrees of freedom otherwise.  For the t,
  P(|T| > t) = I_{df / (df + t^2)}(df / 2, 1 / 2) (regularised incomplete beta).
* ``quantile(prob, df)``: the ``prob`` quantile of the same distribution; the
  t quantile is found by Newton's method on the CDF from the normal quantile.
"""

import jax.numpy as jnp
from jax.scipy.special import betainc, gammaln, ndtr, ndtri

NEWTON_STEPS = 30


def two_sided_p(stat, df):
    """2 P(|T| > |stat|) for T normal (df = inf) or Student t with ``df``.

    ``df=None`` means normal, decided when tracing: no incomplete beta is
    computed (or compiled) for families whose scale is fixed.
    """
    stat = jnp.abs(stat)
    normal = 2.0 * ndtr(-stat)
    if df is None:
        return normal
    df_safe = jnp.where(jnp.isfinite(df) & (df > 0), df, 1.0)
    student = betainc(0.5 * df_safe, 0.5, df_safe / (df_safe + stat**2))
    return jnp.where(jnp.isinf(df), normal, jnp.where(df > 0, student, jnp.nan))


def t_logpdf(x, df):
    """log density of Student's t with ``df`` degrees of freedom."""
    return (gammaln(0.5 * (df + 1)) - gammaln(0.5 * df) - 0.5 * jnp.log(df * jnp.pi)
            - 0.5 * (df + 1) * jnp.log1p(x**2 / df))


def t_cdf(x, df):
    """CDF of Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(0.5 * df, 0.5, df / (df + x**2))
    return jnp.where(x < 0, tail, 1.0 - tail)


def quantile(prob, df):
    """Quantile at ``prob`` of N(0, 1) (df = inf) or Student t with ``df`` (df > 0)."""
    prob = jnp.asarray(prob)
    z = ndtri(prob)
    df_safe = jnp.where(jnp.isfinite(df) & (df > 0), df, 1.0)
    # Cornish-Fisher start, then Newton on the CDF.
    x = z + (z**3 + z) / (4 * df_safe)
    for _ in range(NEWTON_STEPS):
        step = (t_cdf(x, df_safe) - prob) / jnp.exp(t_logpdf(x, df_safe))
        x = x - step
    return jnp.where(jnp.isinf(df), z, jnp.where(df > 0, x, jnp.nan))
