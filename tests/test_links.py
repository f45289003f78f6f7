"""Invariants of every registered link (and ``Power(p)``), so a new link is tested automatically.

Checks (float64, see conftest):
* round trips inverse(link(mu)) == mu and link(inverse(eta)) == eta      rtol 1e-12
* closed-form ``inverse_deriv`` == ``links.autodiff_inverse_deriv``       rtol 1e-12
* ``deriv`` == ``links.autodiff_deriv``                                   rtol 1e-10
* ``inverse_deriv`` == central finite difference of ``inverse``           rtol 1e-6
* deriv(mu) * inverse_deriv(link(mu)) == 1                                 rtol 1e-12
* named power links equal ``Power(p)``; float32 in -> float32 out.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg
from jaxglm import links

POWERS = [1.0 / 3.0, -1.5, 3.0]
LINK_CASES = [pytest.param(cls(), id=name) for name, cls in links.LINKS.items()]
LINK_CASES += [pytest.param(links.Power(p), id=f"power{p:.3g}") for p in POWERS]

# Means spanning both the unit interval and the positive half-line; each link keeps
# the points where it is defined (a probability link drops mu >= 1).
MU_GRID = np.concatenate([np.linspace(0.02, 0.98, 25), np.geomspace(1.1, 40.0, 15)])


def domain(link):
    """(mu, eta) on the part of MU_GRID where the link is finite, with the unit interval kept."""
    with np.errstate(all="ignore"):
        eta = np.asarray(link.link(jnp.asarray(MU_GRID)))
    keep = np.isfinite(eta)
    assert keep[:25].all(), "every link must be defined on (0, 1)"
    return MU_GRID[keep], eta[keep]


@pytest.mark.parametrize("link", LINK_CASES)
def test_round_trips(link):
    mu, eta = domain(link)
    np.testing.assert_allclose(link.inverse(jnp.asarray(eta)), mu, rtol=1e-12)
    np.testing.assert_allclose(link.link(link.inverse(jnp.asarray(eta))), eta, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("link", LINK_CASES)
def test_inverse_deriv_closed_form_equals_autodiff(link):
    _, eta = domain(link)
    eta = jnp.asarray(eta)
    np.testing.assert_allclose(link.inverse_deriv(eta), links.autodiff_inverse_deriv(link, eta), rtol=1e-12)


@pytest.mark.parametrize("link", LINK_CASES)
def test_deriv_equals_autodiff(link):
    mu, _ = domain(link)
    mu = jnp.asarray(mu)
    np.testing.assert_allclose(link.deriv(mu), links.autodiff_deriv(link, mu), rtol=1e-10)
    np.testing.assert_allclose(link.deriv(mu) * link.inverse_deriv(link.link(mu)), 1.0, rtol=1e-12)


@pytest.mark.parametrize("link", LINK_CASES)
def test_inverse_deriv_equals_finite_difference(link):
    """Independent of autodiff: catches a wrong ``inverse`` that autodiff would faithfully follow."""
    _, eta = domain(link)
    h = 1e-5 * np.abs(eta) + 1e-9
    fd = (np.asarray(link.inverse(jnp.asarray(eta + h))) - np.asarray(link.inverse(jnp.asarray(eta - h)))) / (2 * h)
    np.testing.assert_allclose(link.inverse_deriv(jnp.asarray(eta)), fd, rtol=1e-6)


@pytest.mark.parametrize("link", LINK_CASES)
def test_float32_in_float32_out(link):
    mu, eta = domain(link)
    mu32 = jnp.asarray(mu, jnp.float32)
    eta32 = link.link(mu32)
    for out in (eta32, link.inverse(eta32), link.inverse_deriv(eta32), link.deriv(mu32)):
        assert out.dtype == jnp.float32
    np.testing.assert_allclose(link.inverse(eta32), mu, rtol=1e-4)


def test_registry_names():
    assert set(links.LINKS) >= {"identity", "log", "logit", "probit", "cloglog", "inverse",
                                "inverse_squared", "sqrt"}
    for name, cls in links.LINKS.items():
        assert cls().name == name
        assert links.get_link(name) == cls()
    power = links.Power(0.7)
    assert links.get_link(power) is power


@pytest.mark.parametrize("name,power", [("identity", 1.0), ("inverse", -1.0), ("inverse_squared", -2.0),
                                        ("sqrt", 0.5)])
def test_named_power_links_equal_power(name, power):
    named, general = links.get_link(name), links.Power(power)
    mu = jnp.asarray(MU_GRID)
    eta = named.link(mu)
    np.testing.assert_allclose(general.link(mu), eta, rtol=1e-14)
    np.testing.assert_allclose(general.inverse(eta), named.inverse(eta), rtol=1e-14)
    np.testing.assert_allclose(general.inverse_deriv(eta), named.inverse_deriv(eta), rtol=1e-13)


def test_closed_forms_against_textbook():
    """A few link values written out by hand (not via the code under test)."""
    mu = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(links.get_link("logit").link(jnp.asarray(mu)), np.log(mu / (1 - mu)), rtol=1e-14)
    np.testing.assert_allclose(links.get_link("cloglog").link(jnp.asarray(mu)), np.log(-np.log(1 - mu)),
                               rtol=1e-14)
    np.testing.assert_allclose(links.get_link("probit").link(jnp.asarray(mu)), [-1.2815515655446004, 0.0,
                                                                                1.2815515655446004],
                               rtol=1e-14, atol=1e-15)


def test_link_objects_accepted_by_families():
    fam = jg.Gamma(link=links.Power(0.25))
    assert isinstance(fam.link, links.Power) and float(fam.link.power) == 0.25


@pytest.mark.parametrize("link", LINK_CASES)
def test_inverse_deriv_at_the_mean_equals_inverse_deriv(link):
    """``inverse_deriv_at(eta, mu)``, which the solvers call with the mean they carry, is
    ``inverse_deriv(eta)`` (the log link returns mu itself, exp(eta)), and both equal d mu / d eta
    by autodiff of ``inverse`` (independent: logit's ``inverse_deriv`` calls ``inverse_deriv_at``)."""
    _, eta = domain(link)
    eta = jnp.asarray(eta)
    at_mean = link.inverse_deriv_at(eta, link.inverse(eta))
    np.testing.assert_allclose(at_mean, link.inverse_deriv(eta), rtol=1e-15, atol=0)
    np.testing.assert_allclose(at_mean, links.autodiff_inverse_deriv(link, eta), rtol=1e-12)
