"""Per-model status codes: what happened in a fit, as data rather than exceptions.

Inside ``jit``/``vmap`` nothing raises on bad numbers; each result carries an
integer ``status`` (and ``converged``, which is True only for ``CONVERGED`` and
``ALIASED``: a fit that did not converge is never reported as converged).  On
the host, :func:`explain` turns codes into messages, :func:`counts` tallies a
batch, and :func:`check` raises when asked.  ``ADVICE`` says what to do about
each code.

=====  ===============  ==============================================================
code   name             meaning
=====  ===============  ==============================================================
0      CONVERGED        the convergence criterion was met
1      MAX_ITER         ``max_iter`` iterations ran without meeting the criterion
2      NONFINITE        the objective or estimates became non-finite, and step-halving
                        could not recover a finite, valid step
3      SINGULAR         the information matrix is singular at the estimate (numerically
                        not positive definite even after removing aliased columns)
4      SEPARATION       fitted means on the edge of the family's range: Binomial
                        probabilities 0 or 1 (perfect or quasi-complete separation),
                        or count means 0 (Poisson/NB/Tweedie group with only zero
                        counts; an identity link pinned at 0).  The MLE does not
                        exist (or is on the boundary): the reported, finite,
                        coefficients are a point on a path to infinity and their
                        standard errors are meaningless
5      INVALID_INPUT    the data given to a traced fit was invalid (non-finite values,
                        y outside the family's range, negative or all-zero weights,
                        negative l2, family parameters out of range); nothing was fitted
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
    Status.SEPARATION: "fitted probabilities numerically 0 or 1 (or count means numerically 0): the data are "
                       "(quasi-)separated and the maximum likelihood estimate does not exist; consider l2 or "
                       "removing the separating covariate",
    Status.INVALID_INPUT: "invalid input: non-finite values, y outside the family's range, negative or all-zero "
                          "weights, negative l2 or a family parameter out of range; nothing was fitted",
    Status.ALIASED: "converged, but some columns of X are aliased (linear combinations of others); "
                    "their coefficients are NaN, as R reports NA",
}

ADVICE = {
    Status.CONVERGED: "nothing to do.",
    Status.MAX_ITER: "raise max_iter (or loosen tol); if it persists, the MLE may lie on the edge of the "
                     "parameter space (an identity link whose mean wants to go below 0) or not exist.",
    Status.NONFINITE: "rescale covariates, check for extreme offsets/weights, or use the canonical link; "
                      "with float32 data consider float64 (jax_enable_x64).",
    Status.SINGULAR: "drop or combine nearly collinear covariates, or add a small l2 penalty.",
    Status.SEPARATION: "a covariate (or category with all-0/all-1 outcomes, or only zero counts) predicts the "
                       "outcome perfectly: report it as such, use a penalised fit (l2 > 0) or Firth-type "
                       "regression, or drop/merge categories.",
    Status.INVALID_INPUT: "fix the data of this model: see jaxglm.fit's ValueError for the exact problem "
                          "(call it eagerly on this model's arrays).",
    Status.ALIASED: "res.aliased names the redundant columns (the later of each collinear set); their "
                    "coef is NaN and the rest is the fit without them; drop them to silence this.",
}

#: Codes for which ``converged`` is True.
SUCCESS = (Status.CONVERGED, Status.ALIASED)


def _name_and_message(code):
    try:
        status = Status(int(code))
    except ValueError:
        return f"UNKNOWN({int(code)}): not a jaxglm status code"
    return f"{status.name}: {MESSAGES[status]}"


def explain(result_or_status):
    """Human-readable message(s) for a result's status (host side).

    Accepts a ``GLMResult``/``MLEResult`` or an integer (array) of codes and
    returns a string for a single model, or a list of strings for a batch.

    Example::

        >>> explain(0)
        'CONVERGED: converged'
        >>> explain([0, 4])[1].split(":")[0]
        'SEPARATION'
    """
    codes = np.asarray(getattr(result_or_status, "status", result_or_status))
    messages = [_name_and_message(c) for c in codes.ravel()]
    return messages[0] if codes.ndim == 0 else messages


def counts(result_or_status):
    """How many models have each status: ``{name: count}`` for the codes present.

    Example::

        >>> counts([0, 0, 4, 6])
        {'CONVERGED': 2, 'SEPARATION': 1, 'ALIASED': 1}
    """
    codes = np.asarray(getattr(result_or_status, "status", result_or_status)).ravel()
    values, numbers = np.unique(codes, return_counts=True)
    return {(Status(int(v)).name if int(v) in Status._value2member_map_ else f"UNKNOWN({int(v)})"): int(c)
            for v, c in zip(values, numbers)}


def check(result, allow=SUCCESS):
    """Raise ``RuntimeError`` unless every model's status is in ``allow``; return ``result``.

    ``allow`` defaults to ``SUCCESS`` (CONVERGED and ALIASED, the codes for which
    ``converged`` is True); pass ``allow=(Status.CONVERGED,)`` to reject aliased
    fits too.  The message names the first failing model, its status and what
    to do about it, and counts the failures of a batch.

    Example::

        res = jg.status.check(jg.fit(X, y, jg.Poisson()))
    """
    codes = np.asarray(getattr(result, "status", result)).ravel()
    allowed = {int(a) for a in allow}
    bad = [i for i, c in enumerate(codes) if int(c) not in allowed]
    if bad:
        first = bad[0]
        code = int(codes[first])
        where = "" if codes.size == 1 else f" ({len(bad)} of {codes.size} models; first is model {first}; {counts(codes)})"
        advice = ADVICE.get(Status(code), "") if code in Status._value2member_map_ else ""
        raise RuntimeError(f"fit failed{where}: {_name_and_message(code)}. What to do: {advice}")
    return result
