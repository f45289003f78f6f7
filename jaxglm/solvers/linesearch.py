"""Step-halving along a direction: the line search the optimisers share.

``halve(fun, x, direction, acceptable, max_halvings)`` tries t = 1, 1/2, 1/4, ...
(at most ``max_halvings`` halvings) until ``acceptable(t, fun(x + t d))``, in one
``lax.while_loop``, and returns the last t and its objective value.

Example::

    >>> import jax.numpy as jnp
    >>> t, value = halve(lambda x: jnp.sum(x**2), jnp.ones(2), -4 * jnp.ones(2),
    ...                  lambda t, v: v < 2.0, 10)
    >>> float(t)        # t = 1 gives 18 and t = 1/2 gives 2; t = 1/4 reaches x = 0
    0.25
"""

import jax.numpy as jnp
from jax import lax


def halve(fun, x, direction, acceptable, max_halvings):
    """(t, fun(x + t direction)) for the first acceptable t in 1, 1/2, ... (or the last tried)."""

    def cond(carry):
        k, t, value = carry
        return (k < max_halvings) & ~acceptable(t, value)

    def body(carry):
        k, t, _ = carry
        t = 0.5 * t
        return k + 1, t, fun(x + t * direction)

    one = jnp.ones((), x.dtype)
    _, t, value = lax.while_loop(cond, body, (0, one, fun(x + direction)))
    return t, value
