"""``log_factorial``: log(k!) = gammaln(k + 1), from a table when every k is a small whole number.

The log-likelihoods of count and binomial families carry log(y!) or
log C(m, k) terms.  XLA's ``lgamma`` costs about 12 us per 1000 values on
the 2-core benchmark machine (the binomial log C(m, k) takes three of them,
as much as an IRLS iteration), while a lookup in a table of log(k!) costs
well under a microsecond.  The table is used when every k of the model (or,
under ``vmap``, of the batch: see ``jaxglm._batching.cond_any``) is a whole
number in [0, ``TABLE_SIZE``); otherwise ``gammaln(k + 1)`` as usual.  Both
agree to rounding (the table holds correctly rounded ``math.lgamma`` values).

Derivatives: d log(k!) / dk = digamma(k + 1), whichever way the value came.

Example::

    >>> import jax.numpy as jnp
    >>> round(float(log_factorial(jnp.asarray([3.0]))[0]), 6)   # log(6)
    1.791759
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import digamma, gammaln

from ._batching import cond_any

TABLE_SIZE = 4096
_TABLE = np.array([math.lgamma(k + 1.0) for k in range(TABLE_SIZE)])


@jax.custom_jvp
def log_factorial(k):
    """log(k!) = gammaln(k + 1), elementwise, for k >= 0 (whole or not)."""
    k = jnp.asarray(k)
    whole = jnp.all((k == jnp.floor(k)) & (k >= 0) & (k < TABLE_SIZE))
    # The table is an operand, not a constant of a branch: cond_any's branches must not
    # close over arrays (a transformation may turn them into batched or leaked tracers).
    table = jnp.asarray(_TABLE, k.dtype)
    return cond_any(~whole, _by_gammaln, _by_table, k, table)


def _by_gammaln(k, table):
    return gammaln(k + 1)


def _by_table(k, table):
    return table[jnp.clip(k, 0, TABLE_SIZE - 1).astype(jnp.int32)]


@log_factorial.defjvp
def _log_factorial_jvp(primals, tangents):
    (k,), (dk,) = primals, tangents
    return log_factorial(k), digamma(k + 1) * dk
