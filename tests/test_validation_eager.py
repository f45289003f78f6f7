"""Eager calls on bad input raise ValueError naming the problem (checked with ``match``).

All of these raise before anything is compiled, so the file is cheap.  Covered: shapes of X,
y, weights, offset, l2; empty X; non-finite values in each input; y outside each registered
family's range; negative and all-zero weights; negative l2; unknown link (the message lists
every valid name) and unknown solver; bad family parameters (NegativeBinomial alpha,
Tweedie power, Power(0)); bad max_iter and tol.
"""

import re

import numpy as np
import pytest

import jaxglm as jg
from jaxglm import families, links

N = 12
X = np.column_stack([np.ones(N), np.linspace(-1.0, 1.0, N)])
Y = np.linspace(0.2, 0.8, N)


def fit(**overrides):
    kw = dict(X=X, y=Y, family=jg.Poisson())
    kw.update(overrides)
    X_, y_, family = kw.pop("X"), kw.pop("y"), kw.pop("family")
    return jg.fit(X_, y_, family, **kw)


@pytest.mark.parametrize("overrides,message", [
    (dict(X=np.ones(N)), r"X must be a 2-D \(n, p\) design matrix, got shape \(12,\)"),
    (dict(X=np.ones((N, 2, 1))), r"X must be a 2-D"),
    (dict(y=Y[:, None]), r"y must be 1-D of length n, got shape \(12, 1\)"),
    (dict(y=Y[:-1]), r"X has 12 rows but y has 11 values"),
    (dict(X=np.ones((0, 2)), y=np.ones(0)), r"X must have at least one row and one column"),
    (dict(weights=np.ones(N - 1)), r"weights must have shape \(12,\) to match y, got \(11,\)"),
    (dict(offset=np.ones((N, 1))), r"offset must have shape \(12,\)"),
    (dict(l2=np.ones(3)), r"l2 must be a scalar or have one value per coefficient \(2,\)"),
], ids=["X-1d", "X-3d", "y-2d", "n-mismatch", "empty", "weights-shape", "offset-shape", "l2-shape"])
def test_shape_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        fit(**overrides)


def with_bad(array, index, value):
    out = np.array(array, float)
    out[index] = value
    return out


@pytest.mark.parametrize("name,overrides,index", [
    ("X", dict(X=with_bad(X, (3, 1), np.nan)), "[3, 1]"),
    ("y", dict(y=with_bad(Y, 5, np.inf)), "[5]"),
    ("weights", dict(weights=with_bad(np.ones(N), 2, np.nan)), "[2]"),
    ("offset", dict(offset=with_bad(np.zeros(N), 7, -np.inf)), "[7]"),
    ("l2", dict(l2=np.array([0.0, np.nan])), "[1]"),
])
def test_non_finite_values(name, overrides, index):
    with pytest.raises(ValueError, match=rf"{name} contains non-finite values \(first at index {re.escape(index)}\)"):
        fit(**overrides)


OUTSIDE = [-1.0, 1.5, 0.0]


def family_params():
    return [pytest.param(cls(), id=name) for name, cls in families.FAMILIES.items()]


@pytest.mark.parametrize("family", family_params())
def test_y_outside_family_range(family):
    """Every registered family: a y value outside its support raises its own message."""
    bad = [v for v in OUTSIDE if not bool(family.valid_y(np.asarray(v)))]
    if isinstance(family, jg.Gaussian):
        assert bad == []  # every finite y is valid
        return
    assert bad, "every family except the Gaussian excludes some of -1, 1.5, 0"
    for value in bad:
        y = with_bad(Y, 4, value)
        with pytest.raises(ValueError, match=re.escape(family.y_message) + re.escape(f" (y[4] = {value!r})")):
            fit(y=y, family=family)


def test_y_messages_name_the_family():
    assert "Binomial" in jg.Binomial().y_message and "[0, 1]" in jg.Binomial().y_message
    for cls in (jg.Poisson, jg.Gamma, jg.InverseGaussian, jg.NegativeBinomial, jg.Tweedie):
        assert cls.__name__ in cls().y_message


def test_weights_errors():
    with pytest.raises(ValueError, match=r"weights must be non-negative"):
        fit(weights=with_bad(np.ones(N), 0, -0.5))
    with pytest.raises(ValueError, match=r"weights are all zero: there is nothing to fit"):
        fit(weights=np.zeros(N))


def test_l2_negative():
    with pytest.raises(ValueError, match=r"l2 must be non-negative"):
        fit(l2=-1.0)
    with pytest.raises(ValueError, match=r"l2 must be non-negative"):
        fit(l2=np.array([0.0, -2.0]))


def test_unknown_link_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown link 'logg'; valid names are") as info:
        jg.Poisson(link="logg")
    for name in links.LINKS:
        assert repr(name) in str(info.value)
    assert "Power" in str(info.value)
    with pytest.raises(ValueError, match=r"unknown link 3"):
        links.get_link(3)


def test_unknown_solver():
    with pytest.raises(ValueError, match=r"unknown solver 'bfgs'; valid solvers are 'irls', 'newton'"):
        fit(solver="bfgs")


@pytest.mark.parametrize("alpha", [0.0, -1.0, np.nan, np.inf])
def test_negative_binomial_alpha(alpha):
    with pytest.raises(ValueError, match=r"NegativeBinomial alpha must be positive and finite"):
        jg.NegativeBinomial(alpha=alpha)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5, 2.5, np.nan])
def test_tweedie_power(power):
    with pytest.raises(ValueError, match=r"Tweedie power must lie in \(1, 2\)"):
        jg.Tweedie(power=power)


def test_power_link_zero():
    with pytest.raises(ValueError, match=r"Power link needs a non-zero power; use the 'log' link"):
        links.Power(0.0)


@pytest.mark.parametrize("overrides,message", [
    (dict(max_iter=0), r"max_iter must be a positive integer, got 0"),
    (dict(tol=0.0), r"tol must be positive, got 0.0"),
    (dict(tol=-1e-8), r"tol must be positive"),
])
def test_iteration_controls(overrides, message):
    with pytest.raises(ValueError, match=message):
        fit(**overrides)


def test_first_bad_index_is_reported():
    y = Y.copy()
    y[[6, 9]] = -2.0
    with pytest.raises(ValueError, match=r"\(y\[6\] = -2.0\)"):
        fit(y=y)
