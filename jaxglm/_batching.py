"""``cond_any``: a ``lax.cond`` that stays a branch under ``jax.vmap``; ``any_true`` and
``all_true``: boolean reductions that XLA:CPU runs as one kernel.

Batched by ``vmap``, ``lax.cond`` with a per-model predicate becomes a
``select``: both branches run for every model.  That is the right default, but
wasteful for a branch that is rarely needed and expensive (the separation rank
test runs only for models with fitted means on the edge of their range, which
well-posed models never have).  ``cond_any`` batches as

    any(pred) ? where(pred, vmap(true_fn), vmap(false_fn)) : vmap(false_fn)

so a batch in which no model needs the expensive branch skips it, and each
model still gets exactly the value ``lax.cond`` gives it alone.

With ``compact=True`` the branch runs for the models whose ``pred`` is True alone:
they are gathered in groups of a quarter of the batch (``compact_group``), as many
groups as they fill, and their results put back in place.  For the separation test
in float32, whose boundary threshold (eps^(1/4) = 0.019) catches an observation
in ~20% of the models of workloads A and A' but in every chunk of 26, this took a
chunk's CPU per model from 86 to 81 us (A) and 76 to 71 us (A'), with identical
outputs (2026-11-24).  The gathering loop adds ~0.1 s to the compile, so it is
for a branch that a batch's models often need (``fit.compact_separation_test``).

Even a cheap branch can be worth it: XLA:CPU runs a program's independent kernels on its
pool threads and waits for them, so a few small kernels outside any branch cost far more
CPU than their arithmetic when several programs share the cores (``fit_many``'s workers).
Moving a comparison over the fitted means and its reduction into the separation test's
branch saved ~16 us of CPU per model of a float32 logistic fit (~20% of it; 2026-11-24).

The branches' outputs carry no derivatives (``cond_any`` is for status-like
values, or wrapped in a ``custom_jvp``): operands are passed through
``lax.stop_gradient``.  The branches must take every array they use as an
operand, constants included: under some transformations (a batched
``while_loop``) a constant a branch closes over becomes a batched or leaked
tracer, which ``custom_vmap`` rejects.

Example::

    >>> import jax, jax.numpy as jnp
    >>> f = lambda x: cond_any(x > 2, lambda x: x * 10, lambda x: x, x)
    >>> jax.vmap(f)(jnp.arange(4.0)).tolist()
    [0.0, 1.0, 2.0, 30.0]

XLA:CPU turns a boolean (or integer) reduction of a long axis, such as
``jnp.all`` over n observations, into a reduce-window plus a reduce: two
kernels to compile (~25 ms of compile CPU) and run.  ``any_true`` and
``all_true`` reduce a 0/1 float (max / min) instead, one kernel, same result.
"""

import jax
import jax.numpy as jnp
from jax import custom_batching, lax


def any_true(mask, axis=None):
    """``jnp.any(mask, axis)``, as a max over ``mask`` in float32 (one XLA:CPU kernel).

    Example::

        >>> any_true(jnp.array([[False, True], [False, False]]), axis=1).tolist()
        [True, False]
    """
    return jnp.max(jnp.asarray(mask).astype(jnp.float32), axis=axis, initial=0.0) > 0


def all_true(mask, axis=None):
    """``jnp.all(mask, axis)``, as a min over ``mask`` in float32 (one XLA:CPU kernel).

    Example::

        >>> all_true(jnp.array([[True, True], [False, True]]), axis=1).tolist()
        [True, False]
    """
    return jnp.min(jnp.asarray(mask).astype(jnp.float32), axis=axis, initial=1.0) > 0


def cond_any(pred, true_fn, false_fn, *operands, compact=False):
    """``true_fn(*operands) if pred else false_fn(*operands)``; under vmap, ``true_fn``
    runs (for the whole batch) only when some model's ``pred`` is True.  ``compact``: under
    vmap ``true_fn`` runs for the models whose ``pred`` is True alone, gathered in groups
    (``compact_group``), for a branch that few models of a batch need."""
    operands = jax.tree_util.tree_map(lax.stop_gradient, operands)

    @custom_batching.custom_vmap
    def branch(pred, *operands):
        return lax.cond(pred, true_fn, false_fn, *operands)

    @branch.def_vmap
    def _rule(axis_size, in_batched, pred, *operands):
        pred_batched, operands_batched = in_batched[0], in_batched[1:]
        in_axes = tuple(jax.tree_util.tree_map(lambda b: 0 if b else None, batched)
                        for batched in operands_batched)
        # Outputs are always batched (axis 0): broadcast where a branch's output is not.
        batched = lambda fn, size=axis_size: jax.vmap(fn, in_axes=in_axes, out_axes=0, axis_size=size)
        if not pred_batched:
            out = lax.cond(pred, batched(true_fn), batched(false_fn), *operands)
        else:
            # false_fn runs for the whole batch either way: traced once, outside the branch.
            no = batched(false_fn)(*operands)

            def some(no, *ops):
                pick = lambda a, b: jnp.where(pred.reshape(pred.shape + (1,) * (a.ndim - 1)), a, b)
                return jax.tree_util.tree_map(pick, batched(true_fn)(*ops), no)

            def flagged(no, *ops):
                size = compact_group(axis_size)
                run = batched(true_fn, size)
                return _on_flagged(pred, size, lambda gather: run(*gather(ops, in_axes)), no)
            out = lax.cond(any_true(pred), flagged if compact else some, lambda no, *ops: no, no, *operands)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return branch(pred, *operands)


def compact_group(axis_size):
    """Models per group of a ``compact`` ``cond_any`` in a batch of ``axis_size``: a quarter."""
    return max(1, -(-axis_size // 4))


def _on_flagged(pred, size, run, out):
    """``out`` with the rows where ``pred`` is True replaced by ``run``'s: ``run(gather)`` computes
    the rows of ``size`` models, ``gather(tree, axes)`` picking them from a tree of operands
    batched on ``axes``.  The flagged models go in groups of ``size``, in a loop that stops after
    the last one; a group's empty places hold unflagged models (or repeat the last one), and
    their rows are not used.  A sort, gathers and selects, in memory linear in the batch: no
    scatter (XLA:CPU turns one into a loop of its own)."""
    axis_size = pred.shape[0]
    rank = jnp.cumsum(pred.astype(jnp.int32)) - 1          # of each flagged model among them
    count = rank[-1] + 1
    order = jnp.argsort(~pred, stable=True)                # the flagged models first, in order
    order = jnp.concatenate([order, jnp.full(-(-axis_size // size) * size - axis_size,
                                             axis_size - 1, order.dtype)])

    def one_group(state):
        start, out = state
        rows = lax.dynamic_slice(order, (start,), (size,))

        def gather(tree, axes):
            pick = lambda a, axis: a if axis is None else a[rows]
            return jax.tree_util.tree_map(pick, tree, axes, is_leaf=lambda x: x is None)
        got = run(gather)
        # The group's models and those of later groups (slot >= size) take a row: the later
        # ones a placeholder, replaced when their own group comes.
        slot = rank - start
        mine = pred & (slot >= 0)
        take = jnp.minimum(slot, size - 1)

        def merge(a, b):
            return jnp.where(mine.reshape(mine.shape + (1,) * (a.ndim - 1)), b[take], a)
        return start + size, jax.tree_util.tree_map(merge, out, got)

    return lax.while_loop(lambda state: state[0] < count, one_group, (jnp.int32(0), out))[1]
