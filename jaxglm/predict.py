"""Predictions and residuals from a fitted ``GLMResult`` (one model or a batch).

Single-model formulas (mu = g^{-1}(X coef + offset), w = prior weights):

* response  r = y - mu
* pearson   r = (y - mu) sqrt(w / V(mu))
* deviance  r = sign(y - mu) sqrt(w d(y, mu))
* working   r = (y - mu) d eta / d mu

These are R's ``residuals.glm`` types.  A batched result (``coef`` of shape
(B, p)) is handled by ``jax.vmap`` over models, with X shared (n, p) or per
model (B, n, p).  Aliased coefficients (NaN in ``coef``) count as zero, as R
predicts from the identifiable part.
"""

import jax
import jax.numpy as jnp

from ._validate import as_array

PREDICT_KINDS = ("mean", "linear")
RESIDUAL_KINDS = ("response", "pearson", "deviance", "working")


def _check_kind(kind, valid, what):
    if kind not in valid:
        raise ValueError(f"unknown {what} {kind!r}; valid values are {', '.join(map(repr, valid))}")


def _over_models(single, res, X, *rest):
    """Apply ``single(res, X, *rest)`` per model when ``res`` is batched."""
    if res.coef.ndim == 1:
        return single(res, X, *rest)
    x_axis = 0 if X.ndim == 3 else None
    rest_axes = tuple(None if r is None else (0 if r.ndim == 2 else None) for r in rest)
    return jax.vmap(single, in_axes=(0, x_axis) + rest_axes)(res, X, *rest)


def _linear(res, X, offset):
    coef = jnp.where(res.aliased, 0.0, res.coef)
    eta = X @ coef
    return eta if offset is None else eta + offset


def _prepare(res, X, *arrays):
    dtype = res.coef.dtype
    return (as_array(X, dtype),) + tuple(None if a is None else as_array(a, dtype) for a in arrays)


def predict(res, X, *, offset=None, which="mean"):
    """Predicted mean g^{-1}(X coef + offset) (``which="mean"``) or the linear predictor.

    Args:
        res: a ``GLMResult`` (single or batched).
        X: (n, p) or, for a batch, (B, n, p) design.
        offset: optional (n,) or (B, n).
        which: ``"mean"`` or ``"linear"``.

    Returns:
        (n,) or (B, n) array.

    Example::

        mu = jg.predict(res, X_new, offset=np.log(exposure_new))
    """
    _check_kind(which, PREDICT_KINDS, "prediction type")
    X, offset = _prepare(res, X, offset)

    def single(r, x, off):
        eta = _linear(r, x, off)
        return eta if which == "linear" else r.family.link.inverse(eta)

    return _over_models(single, res, X, offset)


def residuals(res, X, y, *, weights=None, offset=None, kind="deviance"):
    """Residuals of ``kind`` "response", "pearson", "deviance" or "working" (R's types).

    Args:
        res: a ``GLMResult``; X: (n, p) or (B, n, p); y: (n,) or (B, n);
        weights, offset: as given to ``fit`` (optional).

    Returns:
        (n,) or (B, n) residuals; their squares sum to ``pearson_chi2``
        (pearson) or ``deviance`` (deviance).

    Example::

        r = jg.residuals(res, X, y, kind="pearson")
    """
    _check_kind(kind, RESIDUAL_KINDS, "residual kind")
    X, y, weights, offset = _prepare(res, X, y, weights, offset)

    def single(r, x, yy, w, off):
        family = r.family
        eta = _linear(r, x, off)
        mu = family.link.inverse(eta)
        w = jnp.ones_like(yy) if w is None else w
        raw = yy - mu
        if kind == "response":
            return raw
        if kind == "pearson":
            return raw * jnp.sqrt(w / family.variance(mu))
        if kind == "working":
            return raw / family.link.inverse_deriv(eta)
        unit = jnp.maximum(w * family.unit_deviance(yy, mu), 0.0)
        return jnp.sign(raw) * jnp.sqrt(unit)

    return _over_models(single, res, X, y, weights, offset)
