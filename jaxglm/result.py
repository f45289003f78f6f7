"""``GLMResult``: the fitted model as a pytree of arrays (batched along axis 0 by vmap)."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._stats import quantile


class GLMResult(NamedTuple):
    """Result of :func:`jaxglm.fit` (R's ``glm``/``summary.glm`` conventions).

    Attributes (shapes for one model; a batch adds a leading axis B):
        coef: (p,) estimates; NaN for aliased columns.
        cov: (p, p) inverse information times ``scale`` (expected information
            for IRLS, observed for Newton).
        std_err, statistic, p_value: (p,) Wald inference; the statistic is z
            for fixed scale, t with ``df_resid`` degrees of freedom otherwise.
        scale: () dispersion: 1 for Binomial/Poisson/NegativeBinomial, else
            Pearson chi2 / df_resid.
        deviance, null_deviance, pearson_chi2, loglik, aic, bic: () scalars.
        nobs, df_resid, df_model: () observations with non-zero weight,
            nobs - rank(X), rank(X) - 1 when X has a constant column.
        n_iter, converged, status: () iterations, bool, ``jaxglm.Status`` code.
        aliased: (p,) bool, columns found to be linear combinations of others.
        family: the family (a pytree; its parameters are batched too).
    """

    coef: jax.Array
    cov: jax.Array
    std_err: jax.Array
    statistic: jax.Array
    p_value: jax.Array
    scale: jax.Array
    deviance: jax.Array
    null_deviance: jax.Array
    pearson_chi2: jax.Array
    loglik: jax.Array
    aic: jax.Array
    bic: jax.Array
    nobs: jax.Array
    df_resid: jax.Array
    df_model: jax.Array
    n_iter: jax.Array
    converged: jax.Array
    status: jax.Array
    aliased: jax.Array
    family: Any

    @property
    def reference_df(self):
        """Degrees of freedom of the Wald reference distribution: inf (normal) or df_resid (t)."""
        if self.family.scale_fixed:
            return jnp.full_like(jnp.asarray(self.df_resid, self.coef.dtype), jnp.inf)
        return jnp.asarray(self.df_resid, self.coef.dtype)

    def conf_int(self, level=0.95):
        """Wald confidence intervals, shape (..., p, 2): coef -/+ q * std_err.

        q is the (1 + level) / 2 quantile of the normal (fixed scale) or of
        Student's t with ``df_resid`` degrees of freedom (estimated scale), as
        R's ``confint.default`` / statsmodels' ``conf_int``.
        """
        q = quantile((1.0 + level) / 2.0, self.reference_df)
        half = jnp.asarray(q)[..., None] * self.std_err
        return jnp.stack([self.coef - half, self.coef + half], axis=-1)
