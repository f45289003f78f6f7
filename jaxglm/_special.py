"""``log_factorial`` and ``xlogx``: log(k!) and k log k, from a table when every k is a small whole number.

The log-likelihoods of count and binomial families carry log(y!) or
log C(m, k) terms.  XLA's ``lgamma`` costs about 12 us per 1000 values on
the 2-core benchmark machine (the binomial log C(m, k) takes three of them,
as much as an IRLS iteration), while a lookup in a table of log(k!) costs
well under a microsecond.  The table is used when every k of the model (or,
under ``vmap``, of the batch: see ``jaxglm._batching.cond_any``) is a whole
number in [0, ``TABLE_SIZE``); otherwise ``gammaln(k + 1)`` as usual.  Both
agree to rounding (the table holds correctly rounded ``math.lgamma`` values).

Derivatives: d log(k!) / dk = digamma(k + 1), whichever way the value came.

``whole=True`` is a caller's promise, checked on the host (``whole_in_table``), that every
k is a whole number in [0, ``TABLE_SIZE``): the table alone is traced, without the test
and the ``gammaln`` branch, which are then never taken but still compiled (~0.3 s of a
``fit_many`` compile for logistic models).  Same values either way.

``xlogx(x)`` = x log x (0 at x = 0) is the saturated part of the Poisson,
binomial and negative binomial deviances (y log y, (1 - y) log(1 - y)): a
log costs about 8 ns of CPU per value in float64 on XLA:CPU, and count or
0/1 responses are whole numbers, so it comes from a table of k log k the
same way (for 0/1 data every value is 0).  d (x log x) / dx = log x + 1.

Example::

    >>> import jax.numpy as jnp
    >>> round(float(log_factorial(jnp.asarray([3.0]))[0]), 6)   # log(6)
    1.791759
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma, gammaln, xlogy

from ._batching import all_true, cond_any

TABLE_SIZE = 4096
_TABLE = np.array([math.lgamma(k + 1.0) for k in range(TABLE_SIZE)])
_XLOGX_TABLE = np.array([k * math.log(k) if k > 0 else 0.0 for k in range(TABLE_SIZE)])


def whole_in_table(values):
    """True when every entry of the host array ``values`` is a whole number in [0, TABLE_SIZE)
    (NaN and infinities are not); what ``whole=True`` promises.

    Example::

        >>> whole_in_table(np.array([0.0, 3.0, 4095.0])), whole_in_table(np.array([0.5]))
        (True, False)
    """
    values = np.asarray(values)
    if values.size == 0:
        return True
    # min/max first: NaN fails them, and the int16 round trip is exact only inside the range.
    return bool(values.min() >= 0 and values.max() < TABLE_SIZE
                and np.array_equal(values.astype(np.int16), values))


def _table_or(direct, table, k, whole):
    """``table[k]`` when every k (of the batch, under vmap) is a whole number in [0, TABLE_SIZE),
    else ``direct(k)``; ``whole``: the caller knows they are."""
    table = jnp.asarray(table, k.dtype)
    if whole:
        return _lookup(k, table)
    is_whole = all_true((k == jnp.floor(k)) & (k >= 0) & (k < TABLE_SIZE))
    # The table is an operand, not a constant of a branch: cond_any's branches must not
    # close over arrays (a transformation may turn them into batched or leaked tracers).
    return cond_any(~is_whole, lambda k, table: direct(k), _lookup, k, table)


def _lookup(k, table):
    return table[jnp.clip(k, 0, TABLE_SIZE - 1).astype(jnp.int32)]


def log_factorial(k, whole=False):
    """log(k!) = gammaln(k + 1), elementwise, for k >= 0 (whole or not); ``whole=True``: the
    caller has checked that every k is a whole number in [0, TABLE_SIZE) (see above)."""
    return _log_factorial(jnp.asarray(k), bool(whole))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _log_factorial(k, whole):
    return _table_or(lambda k: gammaln(k + 1), _TABLE, k, whole)


@_log_factorial.defjvp
def _log_factorial_jvp(whole, primals, tangents):
    (k,), (dk,) = primals, tangents
    return _log_factorial(k, whole), digamma(k + 1) * dk


def xlogx(x, whole=False):
    """x log x elementwise, 0 at x = 0, for x >= 0 (whole or not); ``whole=True`` as for
    ``log_factorial``.

    Example::

        >>> import jax.numpy as jnp
        >>> [round(float(v), 6) for v in xlogx(jnp.asarray([0.0, 1.0, 2.0, 0.5]))]
        [0.0, 0.0, 1.386294, -0.346574]
    """
    return _xlogx(jnp.asarray(x), bool(whole))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _xlogx(x, whole):
    return _table_or(lambda x: xlogy(x, x), _XLOGX_TABLE, x, whole)


@_xlogx.defjvp
def _xlogx_jvp(whole, primals, tangents):
    (x,), (dx,) = primals, tangents
    return _xlogx(x, whole), jax.jvp(lambda x: xlogy(x, x), (x,), (dx,))[1]
