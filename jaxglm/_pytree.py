"""Register small classes as JAX pytrees whose numeric attributes are leaves.

Families and links carry numeric parameters (a NegativeBinomial ``alpha``, a
Tweedie ``power``, a ``Power`` link exponent, a family's link).  Making them
pytree leaves means they can be traced under ``jax.jit`` and mapped over with
``jax.vmap``; everything else about the object (its class) is static.
"""

import jax


def pytree_node(*leaf_names):
    """Class decorator: register ``cls`` as a pytree with ``leaf_names`` as children.

    Unflattening bypasses ``__init__`` (which validates concrete values and so
    must never see tracers or the sentinel objects JAX uses internally).  Attributes
    named in the class attribute ``_static_names`` (hashable values) are part of the
    tree's structure: jitted functions compile once per value.

    Example::

        @pytree_node("alpha")
        class Thing:
            def __init__(self, alpha):
                self.alpha = alpha
    """

    def register(cls):
        static_names = getattr(cls, "_static_names", ())

        def flatten(obj):
            return (tuple(getattr(obj, name) for name in leaf_names),
                    tuple(getattr(obj, name) for name in static_names))

        def unflatten(static, children):
            obj = object.__new__(cls)
            for name, value in zip(leaf_names + static_names, tuple(children) + tuple(static)):
                object.__setattr__(obj, name, value)
            return obj

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        cls._leaf_names = tuple(leaf_names)
        return cls

    return register


def is_concrete(*values):
    """True when no value is a JAX tracer (so it may be inspected on the host)."""
    leaves = jax.tree_util.tree_leaves(values)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)
