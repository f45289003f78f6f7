"""Exponential-dispersion families, each defined by a per-observation log-likelihood.

A family supplies pure, elementwise functions of ``y`` (response), ``mu``
(mean), ``weight`` (prior weight) and ``scale`` (dispersion phi):

* ``loglik(y, mu, weight, scale)``  log f(y; mu, phi) with R's weight convention
* ``variance(mu)``                  V(mu), with Var(y) = phi V(mu) / weight
* ``unit_deviance(y, mu)``          d(y, mu); the deviance is sum(weight * d)
* ``unit_deviance_eta(y, eta)``     d(y, link.inverse(eta)), what the solvers evaluate (a family
  may override it with a cheaper form for a link: Binomial with logit takes one log, not two)
* ``deviance_eta_terms(y, weight)``  eta -> the terms whose sum is the deviance at eta, what the
  solvers evaluate at every iteration
* ``valid_mu(mu)``                  where the mean is inside the family's range
* ``valid_y(y)``                    where the response is in the family's support
* ``init_mu(y, weight)``            R's ``mustart``
* ``start_values(y, weight)``       (eta, mu, deviance) at R's ``mustart``, or None: the solvers
  then evaluate link(init_mu), the inverse link and the deviance there (Binomial with logit and
  0/1 data has them in closed form, functions of the prior weights alone)
* ``loglik_scale(deviance, weight, nobs)`` the dispersion at which R's
  ``logLik.glm`` evaluates the density

Everything the solvers need beyond this (score, observed and expected
information) comes from ``jax.grad`` of ``loglik``: for an exponential
dispersion family d loglik / d mu = weight (y - mu) / (phi V(mu)), so the
expected information per observation is d^2 loglik / (d mu d y).  The tests
check these identities for every registered family, and that
``2 phi (loglik(y; y) - loglik(y; mu)) = weight * unit_deviance(y, mu)``.

A user-defined family subclasses ``Family`` and defines ``loglik``,
``variance``, ``unit_deviance``, ``valid_mu``, ``valid_y`` and ``init_mu``; numeric
parameters are registered as pytree leaves with ``jaxglm._pytree.pytree_node``.

Example::

    >>> import jaxglm as jg
    >>> fam = jg.NegativeBinomial(alpha=0.5)
    >>> float(fam.variance(2.0))
    4.0
"""

import copy

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, xlog1py, xlogy

from ._pytree import pytree_node, is_concrete
from ._special import log_factorial, whole_in_table, xlogx
from .links import get_link


class Family:
    """Base class of all families.

    Class attributes:
        name: the family's name as R prints it.
        default_link: the canonical link's name (R's default).
        scale_fixed: True when the dispersion is 1 (Binomial, Poisson, NB).
        has_density: False when the log-likelihood is a quasi-likelihood.
        loglik_from_deviance: True when ``loglik(y, mu, w, s)`` equals
            ``saturated_loglik(y, w, s) - w unit_deviance(y, mu) / (2 s)``, the
            deviance being twice the log-likelihood ratio to the saturated
            model (every built-in family): a fit's log-likelihood then comes
            from its deviance, without the density at mu.  False (the
            default) for a user's family, whose deviance may leave out terms
            free of mu; a subclass of a built-in family that changes
            ``loglik`` or ``unit_deviance`` should set it False unless the
            identity still holds.
    """

    name = "family"
    default_link = "identity"
    scale_fixed = False
    has_density = True
    loglik_from_deviance = False
    #: Internal: set (on a copy, by ``with_whole_data``) once the host has checked that every
    #: ``table_arguments`` entry is a whole number in the tables' range; a static part of the
    #: pytree, so the fit compiles the table lookups alone (see ``jaxglm._special``).
    whole_data = False
    _static_names = ("whole_data",)

    def __init__(self, link=None):
        self.link = get_link(self.default_link if link is None else link)

    # -- to be defined by each family -------------------------------------
    def loglik(self, y, mu, weight, scale):
        raise NotImplementedError

    def variance(self, mu):
        raise NotImplementedError

    def unit_deviance(self, y, mu):
        raise NotImplementedError

    def unit_deviance_eta(self, y, eta):
        """``unit_deviance(y, link.inverse(eta))``; a family may override it with a cheaper
        form for a link (the solvers evaluate it at every iteration)."""
        return self.unit_deviance(y, self.link.inverse(eta))

    def deviance_eta_terms(self, y, weight):
        """eta -> terms whose sum is the deviance at eta, for fixed y and prior weights: what the
        solvers evaluate at every iteration.  By default weight * ``unit_deviance_eta(y, eta)``,
        0 where weight is 0 whatever y and eta are there."""
        return lambda eta: jnp.where(weight > 0, weight * self.unit_deviance_eta(y, eta), 0.0)

    def saturated_loglik(self, y, weight, scale):
        """``loglik(y, y, weight, scale)``: the saturated model's log-likelihood terms (a family
        may override it with table lookups for whole data)."""
        return self.loglik(y, y, weight, scale)

    def loglik_kernel(self, y, mu, weight, scale):
        """``loglik`` up to terms free of mu (the kernel of the likelihood): every derivative
        with respect to mu or eta (score, information, implicit derivatives of the estimate)
        comes from it.  Default ``loglik``; a family whose density has costly normalising
        terms (log y!, log binomial coefficients) drops them, which saves tracing and
        compiling them only to be differentiated away."""
        return self.loglik(y, mu, weight, scale)

    def valid_mu(self, mu):
        return jnp.isfinite(mu)

    def init_mu(self, y, weight):
        return y

    def start_values(self, y, weight):
        """(eta0, mu0, deviance0) at ``init_mu`` in closed form, or None (the default): the
        solvers then take eta0 = link(init_mu), and the mean and deviance at eta0."""
        return None

    def table_arguments(self, y, weight):
        """The arrays (functions of y and the prior weights) whose entries, all whole numbers in
        range, make every argument of this family's ``log_factorial`` / ``xlogx`` lookups whole
        (default none: the family uses no table)."""
        return ()

    y_message = "y contains values outside the family's range"

    def valid_y(self, y):
        """Elementwise: where ``y`` lies in the family's support (traceable)."""
        return jnp.isfinite(y)

    # -- shared -------------------------------------------------------------
    def loglik_scale(self, deviance, weight, nobs):
        """Dispersion at which R's logLik.glm evaluates the density: deviance / sum(weight)."""
        if self.scale_fixed:
            return jnp.ones_like(deviance)
        return deviance / jnp.sum(weight)

    def deviance(self, y, mu, weight):
        """Total deviance sum(weight * d(y, mu))."""
        return jnp.sum(weight * self.unit_deviance(y, mu))

    def params(self):
        """The family's numeric parameters as a dict (for printing)."""
        return {name: getattr(self, name) for name in self._leaf_names if name != "link"}

    def __repr__(self):
        params = "".join(f"{k}={_short(v)}, " for k, v in self.params().items())
        return f"{type(self).__name__}({params}link={self.link.name!r})"


def _logit_deviance(saturated, y, eta, mu):
    """Binomial's unit deviance at mu = logistic(eta) with one logarithm: log(1 - mu) = log(mu) -
    eta turns 2 (s - y log mu - (1 - y) log(1 - mu)) into 2 (s + (1 - y) eta - log mu), with
    s = y log y + (1 - y) log(1 - y) the saturated part."""
    return 2 * (saturated + (1 - y) * eta - jnp.log(mu))


def with_whole_data(family, y, weight):
    """``family`` marked ``whole_data`` (a copy) when every entry of its ``table_arguments`` for
    the host arrays y and weight is a whole number in the tables' range; else ``family``.

    The check is exact (``jaxglm._special.whole_in_table``), so the mark only ever drops a test
    whose answer is known: results are the same either way.

    Example::

        >>> import numpy as np
        >>> with_whole_data(Poisson(), np.array([0.0, 2.0]), np.ones(2)).whole_data
        True
        >>> with_whole_data(Poisson(), np.array([0.5, 2.0]), np.ones(2)).whole_data
        False
    """
    arguments = family.table_arguments(y, weight)
    if not arguments or not all(whole_in_table(a) for a in arguments):
        return family
    return _marked(family, True)


def without_whole_data(family):
    """``family`` with the ``whole_data`` mark removed (the family a user gave)."""
    return _marked(family, False)


def _marked(family, whole):
    """``family``, or a copy of it, with ``whole_data`` equal to ``whole``."""
    if family.whole_data == whole:
        return family
    copied = copy.copy(family)
    object.__setattr__(copied, "whole_data", whole)
    return copied


def _short(value):
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return "array"


def _check_param(value, ok, message):
    if is_concrete(value) and not np.all(ok(np.asarray(value))):
        raise ValueError(message)
    return value


@pytree_node("link")
class Gaussian(Family):
    """Normal: log f = -1/2 [w (y - mu)^2 / phi + log(2 pi phi / w)], V(mu) = 1."""

    name = "gaussian"
    default_link = "identity"
    loglik_from_deviance = True

    def loglik(self, y, mu, weight, scale):
        return -0.5 * (weight * (y - mu) ** 2 / scale + jnp.log(2 * jnp.pi * scale / weight))

    def variance(self, mu):
        return jnp.ones_like(mu)

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2

    def loglik_scale(self, deviance, weight, nobs):
        """R's gaussian()$aic (and statsmodels) use deviance / nobs, not / sum(weight)."""
        return deviance / nobs


@pytree_node("link")
class Binomial(Family):
    """Binomial proportions: y in [0, 1], weight = number of trials m.

    log f = log C(m, m y) + m [y log mu + (1 - y) log(1 - mu)],  V(mu) = mu (1 - mu).
    """

    name = "binomial"
    default_link = "logit"
    scale_fixed = True
    loglik_from_deviance = True

    def loglik(self, y, mu, weight, scale):
        return self._log_choose(y, weight) + self.loglik_kernel(y, mu, weight, scale)

    def saturated_loglik(self, y, weight, scale):
        return self._log_choose(y, weight) + weight * self._saturated(y) / scale

    def _log_choose(self, y, weight):
        """log C(m, m y) for m = weight trials.  Whole data (``whole_data``) are 0/1 data, so
        C(m, m y) is C(m, 0) or C(m, m): exactly 0, with no table lookup."""
        if self.whole_data:
            return jnp.zeros_like(weight * y)
        return (log_factorial(weight) - log_factorial(weight * y)
                - log_factorial(weight * (1 - y)))

    def loglik_kernel(self, y, mu, weight, scale):
        return weight * (xlogy(y, mu) + xlog1py(1 - y, -mu)) / scale

    def variance(self, mu):
        return mu * (1 - mu)

    def unit_deviance(self, y, mu):
        return 2 * (self._saturated(y) - xlogy(y, mu) - xlog1py(1 - y, -mu))

    def _saturated(self, y):
        """y log y + (1 - y) log(1 - y), 0 for 0/1 data (whole data are: then exactly 0, with no
        table lookup)."""
        if self.whole_data:
            return jnp.zeros_like(y)
        return xlogx(y) + xlogx(1 - y)

    def unit_deviance_eta(self, y, eta):
        """With the logit link log(1 - mu) = log(mu) - eta: one log per value instead of two."""
        if self.link.name != "logit":
            return super().unit_deviance_eta(y, eta)
        return _logit_deviance(self._saturated(y), y, eta, self.link.inverse(eta))

    def deviance_eta_terms(self, y, weight):
        """With the logit link: terms(eta) = m 2 (s + (1 - y) eta - log mu), with m trials, the
        saturated part s = y log y + (1 - y) log(1 - y) formed once (0 for 0/1 data), and the
        mean floored at the smallest normal number.  Where m is 0, y is taken
        as 0 (any y is allowed there).  Every term is then finite for every finite eta, so an
        observation of weight 0 gives 0 * term = 0 with no mask (eta is bounded by a quarter of
        the largest float, so that even eta = +-inf gives a finite term).  Without the mask (a select)
        XLA:CPU computes the logarithm in a vectorised kernel instead of one libm call per value
        (2026-11-24, workload A': -3 to -7% CPU per model), and the terms are the same
        operations for 0/1 data and proportions, marked ``whole_data`` or not.  (s stays in each
        term: summed apart, for proportions with many trials, its sum and the rest's cancel to a
        deviance far smaller than either, and their rounding spoils R's criterion at tight
        tolerances.)  The floor changes nothing else: a mean below it is 0 in floating point (eta
        < -708), outside the family's range, and the deviance objective is +inf there whatever
        the term.
        """
        if self.link.name != "logit":
            return super().deviance_eta_terms(y, weight)
        y = jnp.where(weight > 0, y, 0.0)
        saturated = self._saturated(y)

        def terms(eta):
            info = jnp.finfo(eta.dtype)
            mu = jnp.maximum(self.link.inverse(eta), info.tiny)
            eta = jnp.minimum(jnp.maximum(eta, -info.max / 4), info.max / 4)  # finite for eta = +-inf
            return weight * _logit_deviance(saturated, y, eta, mu)
        return terms

    def valid_mu(self, mu):
        return (mu > 0) & (mu < 1)

    def init_mu(self, y, weight):
        return (weight * y + 0.5) / (weight + 1)

    def start_values(self, y, weight):
        """For 0/1 data (``whole_data``) and the logit link, R's start mu0 = (m y + 0.5) / (m + 1)
        with m trials gives eta0 = logit(mu0) = (2 y - 1) log(2 m + 1), and every observation's
        deviance there is -2 m log((m + 1/2) / (m + 1)), whether y is 0 or 1.  Both depend on y
        only through its sign, so a batch of models sharing the weights takes their logarithms
        once, not once per model: two logarithms and an exponential per observation fewer
        than link(mu0), its inverse and the deviance (2026-11-24, workload A': -4% CPU per model).
        """
        if not (self.whole_data and self.link.name == "logit"):
            return None
        eta = (2 * y - 1) * jnp.log1p(2 * weight)
        each = -2 * weight * jnp.log1p(-0.5 / (weight + 1))
        return eta, self.init_mu(y, weight), jnp.sum(jnp.where(weight > 0, each, 0.0))

    def table_arguments(self, y, weight):
        """y whole and 1 - max(y) >= 0 means 0/1 data, so 1 - y, m y and m (1 - y) are whole
        when the trials m are (1 - max(y) rather than 1 - y: one pass over y instead of two).
        Marked so, the saturated terms and log C(m, m y) are exactly 0 and need no table."""
        return (y, 1 - np.max(y), weight)

    y_message = "Binomial y must be a proportion in [0, 1] (pass the number of trials as weights)"

    def valid_y(self, y):
        return (y >= 0) & (y <= 1)


@pytree_node("link")
class Poisson(Family):
    """Poisson counts: log f = w [y log mu - mu - log y!],  V(mu) = mu."""

    name = "poisson"
    default_link = "log"
    scale_fixed = True
    loglik_from_deviance = True

    def loglik(self, y, mu, weight, scale):
        return weight * (xlogy(y, mu) - mu - log_factorial(y, self.whole_data)) / scale

    def saturated_loglik(self, y, weight, scale):
        whole = self.whole_data
        return weight * (xlogx(y, whole) - y - log_factorial(y, whole)) / scale

    def loglik_kernel(self, y, mu, weight, scale):
        return weight * (xlogy(y, mu) - mu) / scale

    def variance(self, mu):
        return mu

    def unit_deviance(self, y, mu):
        return 2 * (xlogx(y, self.whole_data) - xlogy(y, mu) - (y - mu))

    def valid_mu(self, mu):
        return (mu > 0) & jnp.isfinite(mu)

    def init_mu(self, y, weight):
        return y + 0.1

    def table_arguments(self, y, weight):
        return (y,)

    y_message = "Poisson y must be non-negative counts"

    def valid_y(self, y):
        return y >= 0


@pytree_node("link")
class Gamma(Family):
    """Gamma with shape nu = 1/phi and mean mu:

    log f = w [nu log(nu / mu) + (nu - 1) log y - nu y / mu - log Gamma(nu)],  V(mu) = mu^2.
    """

    name = "Gamma"
    default_link = "inverse"
    loglik_from_deviance = True

    def loglik(self, y, mu, weight, scale):
        nu = 1.0 / scale
        return weight * (nu * jnp.log(nu / mu) + (nu - 1) * jnp.log(y) - nu * y / mu - gammaln(nu))

    def variance(self, mu):
        return mu**2

    def unit_deviance(self, y, mu):
        return 2 * (-jnp.log(y / mu) + (y - mu) / mu)

    def valid_mu(self, mu):
        return (mu > 0) & jnp.isfinite(mu)

    y_message = "Gamma y must be strictly positive"

    def valid_y(self, y):
        return y > 0


@pytree_node("link")
class InverseGaussian(Family):
    """Inverse Gaussian: log f = w [-1/2 log(2 pi phi y^3) - (y - mu)^2 / (2 phi y mu^2)],  V = mu^3."""

    name = "inverse.gaussian"
    default_link = "inverse_squared"
    loglik_from_deviance = True

    def loglik(self, y, mu, weight, scale):
        return weight * (-0.5 * jnp.log(2 * jnp.pi * scale * y**3) - (y - mu) ** 2 / (2 * scale * y * mu**2))

    def variance(self, mu):
        return mu**3

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2 / (y * mu**2)

    def valid_mu(self, mu):
        return (mu > 0) & jnp.isfinite(mu)

    y_message = "InverseGaussian y must be strictly positive"

    def valid_y(self, y):
        return y > 0


@pytree_node("link", "alpha")
class NegativeBinomial(Family):
    """NB2 with known alpha: Var(y) = mu + alpha mu^2 (theta = 1 / alpha in MASS).

    log f = w [log Gamma(y + 1/a) - log Gamma(1/a) - log y! + y log(a mu) - (y + 1/a) log(1 + a mu)].
    ``alpha`` is a pytree leaf (it may be traced or vmapped).
    """

    name = "Negative Binomial"
    default_link = "log"
    scale_fixed = True
    loglik_from_deviance = True

    def __init__(self, alpha=1.0, link=None):
        super().__init__(link)
        self.alpha = _check_param(alpha, lambda a: np.isfinite(a) & (a > 0),
                                  f"NegativeBinomial alpha must be positive and finite, got {alpha!r}")

    def loglik(self, y, mu, weight, scale):
        a = self.alpha
        ll = (gammaln(y + 1 / a) - gammaln(1 / a) - log_factorial(y, self.whole_data)
              + xlogy(y, a * mu) - (y + 1 / a) * jnp.log1p(a * mu))
        return weight * ll / scale

    def loglik_kernel(self, y, mu, weight, scale):
        a = self.alpha
        return weight * (xlogy(y, a * mu) - (y + 1 / a) * jnp.log1p(a * mu)) / scale

    def variance(self, mu):
        return mu + self.alpha * mu**2

    def unit_deviance(self, y, mu):
        a = self.alpha
        return 2 * (xlogx(y, self.whole_data) - xlogy(y, mu)
                    - (y + 1 / a) * (jnp.log1p(a * y) - jnp.log1p(a * mu)))

    def valid_mu(self, mu):
        return (mu > 0) & jnp.isfinite(mu)

    def init_mu(self, y, weight):
        return y + (y == 0) / 6.0

    def table_arguments(self, y, weight):
        return (y,)

    y_message = "NegativeBinomial y must be non-negative counts"

    def valid_y(self, y):
        return y >= 0


@pytree_node("link", "power")
class Tweedie(Family):
    """Tweedie with 1 < power < 2 (compound Poisson-Gamma), V(mu) = mu^power.

    The density has no closed form, so ``loglik`` is the quasi-log-likelihood
    w [y mu^(1-p) / (1-p) - mu^(2-p) / (2-p)] / phi, which has the same score
    and information; the fitted result's ``loglik``, ``aic`` and ``bic`` are NaN
    (R's ``glm`` reports NA).  ``power`` is a pytree leaf.
    """

    name = "Tweedie"
    default_link = "log"
    has_density = False

    def __init__(self, power=1.5, link=None):
        super().__init__(link)
        self.power = _check_param(power, lambda p: (p > 1) & (p < 2),
                                  f"Tweedie power must lie in (1, 2), got {power!r}")

    def loglik(self, y, mu, weight, scale):
        p = self.power
        return weight * (y * mu ** (1 - p) / (1 - p) - mu ** (2 - p) / (2 - p)) / scale

    def variance(self, mu):
        return mu**self.power

    def unit_deviance(self, y, mu):
        p = self.power
        return 2 * (y ** (2 - p) / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p) + mu ** (2 - p) / (2 - p))

    def valid_mu(self, mu):
        return (mu > 0) & jnp.isfinite(mu)

    def init_mu(self, y, weight):
        return y + 0.1 * (y == 0)

    y_message = "Tweedie y must be non-negative"

    def valid_y(self, y):
        return y >= 0


FAMILIES = {
    "gaussian": Gaussian,
    "binomial": Binomial,
    "poisson": Poisson,
    "gamma": Gamma,
    "inverse_gaussian": InverseGaussian,
    "negative_binomial": NegativeBinomial,
    "tweedie": Tweedie,
}
