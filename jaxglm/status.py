"""Per-model status codes: what happened in a fit, as data rather than exceptions.

Inside ``jit``/``vmap`` nothing raises on bad numbers; each result carries an
integer ``status`` (and ``converged``, which is True only for ``CONVERGED`` and
``ALIASED``).  On the host, :func:`explain` turns codes into messages and
:func:`check` raises when asked.

=====  ===============  ==============================================================
code   name             meaning
=====  ===============  ==============================================================
0      CONVERGED        the convergence criterion was met
1      MAX_ITER         ``max_iter`` iterations ran without meeting the criterion
2      NONFINITE        the objective or estimates became non-finite, and step-halving
                        could not recover a finite, valid step
3      SINGULAR         the information matrix is singular at the estimate (numerically
                        not positive definite even after removing aliased columns)
4      SEPARATION       Binomial: fitted probabilities reached 0 or 1 (perfect or
                        quasi-complete separation); coefficients diverge
5      INVALID_INPUT    the data given to a traced fit was invalid (non-finite values,
                        y outside the family's range, negative weights)
6      ALIASED          converged, but some columns of X are linear combinations of
                        others; their coefficients are NaN (R reports NA), the rest is
                        the fit of the identifiable part
=====  ===============  ==============================================================
"""

import enum

import numpy as np


class Status(enum.IntEnum):
    CONVERGED = 0
    MAX_ITER = 1
    NONFINITE = 2
    SINGULAR = 3
    SEPARATION = 4
    INVALID_INPUT = 5
    ALIASED = 6


MESSAGES = {
    Status.CONVERGED: "converged",
    Status.MAX_ITER: "did not converge within max_iter iterations; raise max_iter or check the model",
    Status.NONFINITE: "the fit became non-finite (overflow or a mean outside the family's range) "
                      "and step-halving could not recover; check scaling, the link and the data",
    Status.SINGULAR: "the information matrix is singular at the estimate; standard errors are not available",
    Status.SEPARATION: "fitted probabilities numerically 0 or 1: the data are (quasi-)separated and "
                       "the maximum likelihood estimate does not exist; consider l2 or removing the separating covariate",
    Status.INVALID_INPUT: "invalid input: non-finite values, y outside the family's range, or negative weights",
    Status.ALIASED: "converged, but some columns of X are aliased (linear combinations of others); "
                    "their coefficients are NaN, as R reports NA",
}


def explain(result_or_status):
    """Human-readable message(s) for a result's status (host side).

    Accepts a ``GLMResult``/``MLEResult`` or an integer (array) of codes and
    returns a string for a single model, or a list of strings for a batch.

    Example::

        >>> explain(0)
        'CONVERGED: converged'
    """
    codes = np.asarray(getattr(result_or_status, "status", result_or_status))
    messages = [f"{Status(int(c)).name}: {MESSAGES[Status(int(c))]}" for c in codes.ravel()]
    return messages[0] if codes.ndim == 0 else messages


def check(result, allow=(Status.CONVERGED,)):
    """Raise ``RuntimeError`` unless every model's status is in ``allow``; return ``result``.

    Example::

        res = jg.status.check(jg.fit(X, y, jg.Poisson()))
    """
    codes = np.asarray(result.status).ravel()
    bad = [i for i, c in enumerate(codes) if int(c) not in {int(a) for a in allow}]
    if bad:
        first = bad[0]
        where = "" if codes.size == 1 else f" ({len(bad)} of {codes.size} models; first is model {first})"
        raise RuntimeError(f"fit failed{where}: {explain(int(codes[first]))}")
    return result
