"""The status vocabulary: codes, messages, advice, explain/counts/check, and `converged` honesty."""

import numpy as np
import pytest

import jaxglm as jg
from jaxglm import status as st
from jaxglm.status import ADVICE, MESSAGES, SUCCESS, Status


def test_codes_are_stable_and_public():
    # The integer codes are part of the public contract (stored results, R/pandas users).
    assert {s.name: int(s) for s in Status} == {
        "CONVERGED": 0, "MAX_ITER": 1, "NONFINITE": 2, "SINGULAR": 3, "SEPARATION": 4,
        "INVALID_INPUT": 5, "ALIASED": 6}
    assert jg.Status is Status and jg.status is st


@pytest.mark.parametrize("code", list(Status))
def test_every_code_has_a_message_and_advice(code):
    assert MESSAGES[code] and ADVICE[code]
    assert st.explain(int(code)) == f"{code.name}: {MESSAGES[code]}"
    assert code.name in st.__doc__  # the module docstring's table lists every code


def test_explain_batches_and_unknown_codes():
    assert st.explain(np.array([0, 4])) == [st.explain(0), st.explain(4)]
    assert st.explain(np.int32(6)).startswith("ALIASED")
    assert st.explain(42).startswith("UNKNOWN(42)")


def test_counts():
    assert st.counts(np.array([0, 0, 4, 6, 5])) == {"CONVERGED": 2, "SEPARATION": 1, "INVALID_INPUT": 1,
                                                     "ALIASED": 1}
    assert st.counts(np.array([0, 9])) == {"CONVERGED": 1, "UNKNOWN(9)": 1}


def test_check_passes_success_and_raises_with_the_first_failure():
    codes = np.array([0, 6, 0])
    assert st.check(codes) is codes  # ALIASED counts as success by default (converged is True)
    with pytest.raises(RuntimeError, match="ALIASED"):
        st.check(codes, allow=(Status.CONVERGED,))
    with pytest.raises(RuntimeError, match=r"2 of 4 models; first is model 1.*SEPARATION.*What to do"):
        st.check(np.array([0, 4, 0, 1]))
    with pytest.raises(RuntimeError, match="fit failed: MAX_ITER"):
        st.check(np.int32(1))
    assert set(SUCCESS) == {Status.CONVERGED, Status.ALIASED}


def test_check_and_explain_on_a_real_result():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(40), rng.normal(size=(40, 2))])
    y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])).astype(float)
    res = jg.fit(X, y, jg.Poisson(), max_iter=1)
    assert int(res.status) == Status.MAX_ITER and not bool(res.converged)
    assert st.explain(res).startswith("MAX_ITER")
    with pytest.raises(RuntimeError, match="max_iter"):
        st.check(res)
    good = jg.fit(X, y, jg.Poisson())
    assert st.check(good) is good and bool(good.converged)


def test_converged_flag_matches_status_codes():
    # converged is True exactly for SUCCESS codes: checked on results from every degenerate test too
    # (tests/test_degenerate.py, tests/test_fuzz.py); here on the definition.
    from jaxglm.fit import refine_status
    import jax.numpy as jnp
    for code in Status:
        out = refine_status(jg.Poisson(), jnp.asarray(int(code)), jnp.ones(3), jnp.ones(3, bool),
                            jnp.zeros(2, bool), jnp.asarray(False))
        assert int(out) == int(code)
