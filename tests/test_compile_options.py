"""``jaxglm._compile.jit``: jaxglm's executables with faster-compiling XLA options.

The options must not change results (beyond the last bits of element-wise
functions), must not apply inside a user's trace (JAX refuses them there), and
an XLA that refuses them must fall back to plain ``jax.jit`` for good.
"""

import jax
import numpy as np
import pytest

import jaxglm as jg
from jaxglm import _compile


@pytest.fixture
def poisson_data():
    rng = np.random.default_rng(21)
    X = np.column_stack([np.ones(80), rng.normal(size=(80, 2))])
    y = rng.poisson(np.exp(X @ [0.3, 0.4, -0.2])).astype(float)
    return X, y


def test_options_do_not_change_the_fit(poisson_data, monkeypatch):
    X, y = poisson_data
    fast = jg.fit(X, y, jg.Poisson(), tol=1e-10)
    monkeypatch.setattr(_compile, "options_supported", False)
    plain = jg.fit(X, y, jg.Poisson(), tol=1e-10)
    for name in ("coef", "std_err", "deviance", "null_deviance", "loglik", "aic"):
        np.testing.assert_allclose(getattr(fast, name), getattr(plain, name), rtol=1e-13)
    assert int(fast.n_iter) == int(plain.n_iter)


def test_top_level_call_uses_the_options_and_a_traced_call_does_not():
    double = _compile.jit(lambda x: 2 * x)
    if not _compile.options_supported:
        pytest.skip("this jax/XLA takes no compiler options")
    double(np.ones(3))  # top level: compiled with the options
    assert double._fast._cache_size() == 1 and double._plain._cache_size() == 0
    out = jax.jit(lambda x: double(x) + 1)(np.ones(3))  # inside a user's jit: plain, inlined
    np.testing.assert_array_equal(out, 3 * np.ones(3))
    grads = jax.grad(lambda x: double(x).sum())(np.ones(3))  # under grad: plain
    np.testing.assert_array_equal(grads, 2 * np.ones(3))
    assert double._fast._cache_size() == 1


def test_refused_options_fall_back_to_plain_jit(monkeypatch):
    monkeypatch.setattr(_compile, "COMPILER_OPTIONS", {"xla_no_such_option_for_jaxglm": True})
    monkeypatch.setattr(_compile, "options_supported", True)
    triple = _compile.jit(lambda x: 3 * x)
    np.testing.assert_array_equal(triple(np.ones(2)), 3 * np.ones(2))
    assert _compile.options_supported is False  # remembered: later calls go straight to plain jit
    np.testing.assert_array_equal(triple(np.ones(2)), 3 * np.ones(2))
