"""Link functions: eta = g(mu), mu = g^{-1}(eta), and their derivatives.

Each link is a small pytree object with three pure, elementwise functions:

* ``link(mu)``           eta = g(mu)
* ``inverse(eta)``       mu = g^{-1}(eta)
* ``inverse_deriv(eta)`` d mu / d eta, a closed form used on the hot path.

``deriv(mu)`` (d eta / d mu) and the autodiff versions of both derivatives come
from ``jax.grad`` in the base class; the test-suite checks every registered
link's closed forms against them, so a new link is tested automatically.

Example::

    >>> import jax.numpy as jnp, jaxglm as jg
    >>> link = jg.links.get_link("logit")
    >>> float(link.inverse(link.link(jnp.asarray(0.25))))
    0.25
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr, ndtri

from ._pytree import pytree_node, is_concrete


class Link:
    """Base class: subclasses define ``name``, ``link``, ``inverse``, ``inverse_deriv``."""

    name = "link"

    def link(self, mu):
        raise NotImplementedError

    def inverse(self, eta):
        raise NotImplementedError

    def inverse_deriv(self, eta):
        """d mu / d eta; the default derives it from ``inverse`` by autodiff."""
        return autodiff_inverse_deriv(self, eta)

    def inverse_deriv_at(self, eta, mu):
        """d mu / d eta where the caller already has mu = ``inverse(eta)``; default
        ``inverse_deriv(eta)``.  A link whose derivative is a function of the mean (log: mu, logit:
        mu (1 - mu)) computes it from mu, which saves the solvers an exp per observation and
        iteration."""
        return self.inverse_deriv(eta)

    def deriv(self, mu):
        """d eta / d mu = 1 / (d mu / d eta) evaluated at eta = g(mu)."""
        return 1.0 / self.inverse_deriv(self.link(mu))

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other) and _leaves_equal(self, other)

    def __hash__(self):
        return hash(type(self))


def autodiff_inverse_deriv(link, eta):
    """d mu / d eta of ``link`` by ``jax.grad`` (elementwise)."""
    grad = jax.grad(lambda e: jnp.sum(link.inverse(e)))
    return grad(jnp.asarray(eta))


def autodiff_deriv(link, mu):
    """d eta / d mu of ``link`` by ``jax.grad`` (elementwise)."""
    grad = jax.grad(lambda m: jnp.sum(link.link(m)))
    return grad(jnp.asarray(mu))


def _leaves_equal(a, b):
    leaves_a = jax.tree_util.tree_leaves(a)
    leaves_b = jax.tree_util.tree_leaves(b)
    if not is_concrete(leaves_a, leaves_b):
        return a is b
    return all(bool(jnp.all(x == y)) for x, y in zip(leaves_a, leaves_b))


@pytree_node()
class Identity(Link):
    """eta = mu."""

    name = "identity"

    def link(self, mu):
        return mu

    def inverse(self, eta):
        return eta

    def inverse_deriv(self, eta):
        return jnp.ones_like(eta)


@pytree_node()
class Log(Link):
    """eta = log(mu); mu = exp(eta)."""

    name = "log"

    def link(self, mu):
        return jnp.log(mu)

    def inverse(self, eta):
        return jnp.exp(eta)

    def inverse_deriv(self, eta):
        return jnp.exp(eta)

    def inverse_deriv_at(self, eta, mu):
        return mu


@pytree_node()
class Logit(Link):
    """eta = log(mu / (1 - mu)); mu = 1 / (1 + exp(-eta))."""

    name = "logit"

    def link(self, mu):
        # R's logit_link: one log (1 - mu is exact for mu >= 1/2, within an ulp below).
        return jnp.log(mu / (1 - mu))

    def inverse(self, eta):
        return jax.nn.sigmoid(eta)

    def inverse_deriv(self, eta):
        return self.inverse_deriv_at(eta, jax.nn.sigmoid(eta))

    def inverse_deriv_at(self, eta, mu):
        return mu * (1.0 - mu)


@pytree_node()
class Probit(Link):
    """eta = Phi^{-1}(mu); mu = Phi(eta), the standard normal CDF."""

    name = "probit"

    def link(self, mu):
        return ndtri(mu)

    def inverse(self, eta):
        return ndtr(eta)

    def inverse_deriv(self, eta):
        return jnp.exp(-0.5 * eta**2) / jnp.sqrt(2.0 * jnp.pi).astype(jnp.result_type(eta))


@pytree_node()
class CLogLog(Link):
    """eta = log(-log(1 - mu)); mu = 1 - exp(-exp(eta))."""

    name = "cloglog"

    def link(self, mu):
        return jnp.log(-jnp.log1p(-mu))

    def inverse(self, eta):
        return -jnp.expm1(-jnp.exp(eta))

    def inverse_deriv(self, eta):
        return jnp.exp(eta - jnp.exp(eta))


@pytree_node("power")
class Power(Link):
    """eta = mu ** power; mu = eta ** (1 / power).  ``power`` must be non-zero.

    ``power`` is a pytree leaf: it may be traced or vmapped.  The named links
    ``inverse`` (power -1), ``inverse_squared`` (-2) and ``sqrt`` (1/2) are the
    same function with the power fixed.
    """

    name = "power"

    def __init__(self, power=1.0):
        if is_concrete(power) and jnp.ndim(power) == 0 and float(power) == 0.0:
            raise ValueError("Power link needs a non-zero power; use the 'log' link for power 0")
        self.power = power

    def link(self, mu):
        return mu**self.power

    def inverse(self, eta):
        return eta ** (1.0 / self.power)

    def inverse_deriv(self, eta):
        return (1.0 / self.power) * eta ** (1.0 / self.power - 1.0)

    def __repr__(self):
        return f"Power({self.power!r})"


@pytree_node()
class Inverse(Link):
    """eta = 1 / mu (canonical for Gamma)."""

    name = "inverse"

    def link(self, mu):
        return 1.0 / mu

    def inverse(self, eta):
        return 1.0 / eta

    def inverse_deriv(self, eta):
        return -1.0 / eta**2


@pytree_node()
class InverseSquared(Link):
    """eta = 1 / mu**2 (canonical for the inverse Gaussian)."""

    name = "inverse_squared"

    def link(self, mu):
        return 1.0 / mu**2

    def inverse(self, eta):
        return 1.0 / jnp.sqrt(eta)

    def inverse_deriv(self, eta):
        return -0.5 * eta**-1.5


@pytree_node()
class Sqrt(Link):
    """eta = sqrt(mu); mu = eta**2."""

    name = "sqrt"

    def link(self, mu):
        return jnp.sqrt(mu)

    def inverse(self, eta):
        return eta**2

    def inverse_deriv(self, eta):
        return 2.0 * eta


LINKS = {
    "identity": Identity,
    "log": Log,
    "logit": Logit,
    "probit": Probit,
    "cloglog": CLogLog,
    "inverse": Inverse,
    "inverse_squared": InverseSquared,
    "sqrt": Sqrt,
}


def get_link(link):
    """Return a link object from a name in ``LINKS`` or a ``Link`` instance.

    Raises ``ValueError`` listing the valid names for an unknown name.
    """
    if isinstance(link, Link):
        return link
    if isinstance(link, str) and link in LINKS:
        return LINKS[link]()
    valid = ", ".join(repr(name) for name in LINKS)
    raise ValueError(f"unknown link {link!r}; valid names are {valid}, or a jg.links.Power(p) object")
