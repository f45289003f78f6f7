"""Implicit derivatives of ``fit`` against central finite differences (float64).

For every family, d coef / d (X, y, weights, offset, l2, family parameter) by
``jax.jacfwd`` and ``jax.jacrev``, unbatched and under ``jax.vmap``, must match
central differences of refits along a random direction per input to 1e-6
relative.  The finite differences refit by Newton (quadratic convergence)
with ``tol`` at its floor (50 machine epsilons), so the refits are exact to
~1e-15 and the difference quotient with h = 1e-6 to ~1e-9; the derivatives
are those of the default IRLS fit.

Compile budget: per family one vmapped primal fit (all finite-difference
points in one call) and one compiled function holding the Jacobians.
Poisson (canonical link, offset: null model by a second loop) runs by
default, batched forward and reverse (unbatched derivatives are exercised by
tests/test_composition.py); the other six families are ``slow`` and check
all four modes.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxglm as jg

N = 40
H = 1e-6
RTOL = 1e-6
INPUTS = ("X", "y", "weights", "offset", "l2", "param")
FAST = ("poisson",)


def simulate(name, seed):
    """(family_ctor, theta) with theta a dict of float64 arrays; ``param`` is the family's parameter."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(N), 0.5 * rng.normal(size=(N, 2))])
    offset = 0.1 * rng.normal(size=N)
    weights = rng.uniform(0.5, 2.0, N)
    eta = X @ [0.4, 0.3, -0.2] + offset
    param = 0.0
    if name == "gaussian":
        ctor, y = (lambda p: jg.Gaussian()), eta + rng.normal(size=N)
    elif name == "binomial":
        weights = rng.integers(1, 6, N).astype(float)
        ctor, y = (lambda p: jg.Binomial()), rng.binomial(weights.astype(int), 1 / (1 + np.exp(-eta))) / weights
    elif name == "poisson":
        ctor, y = (lambda p: jg.Poisson()), rng.poisson(np.exp(eta)).astype(float)
    elif name == "gamma":
        eta = 1.0 + X[:, 1:] @ [0.3, -0.2] + offset
        ctor, y = (lambda p: jg.Gamma()), rng.gamma(5.0, 1 / eta / 5.0)
    elif name == "inverse_gaussian":
        eta = 1.0 + X[:, 1:] @ [0.3, -0.2] + offset
        ctor, y = (lambda p: jg.InverseGaussian()), rng.wald(eta**-0.5, 5.0)
    elif name == "negative_binomial":
        param = 0.7
        ctor = lambda p: jg.NegativeBinomial(alpha=p)
        y = rng.poisson(rng.gamma(1 / param, np.exp(eta) * param)).astype(float)
    elif name == "tweedie":
        param = 1.5
        ctor = lambda p: jg.Tweedie(power=p)
        y = rng.gamma(2.0, np.exp(eta) / 2.0) * (rng.uniform(size=N) > 0.2)
    theta = dict(X=X, y=y, weights=weights, offset=offset, l2=np.asarray(0.3), param=np.asarray(param))
    return ctor, theta


def fit_of(ctor, theta, max_iter=50, solver="irls"):
    fam = ctor(theta["param"])
    return jg.fit(theta["X"], theta["y"], fam, weights=theta["weights"], offset=theta["offset"],
                  l2=theta["l2"], tol=1e-15, max_iter=max_iter, solver=solver)


def coef_of(ctor, theta, max_iter=50, solver="irls"):
    return fit_of(ctor, theta, max_iter, solver).coef


def directions(theta, seed):
    """One random direction per input; y moves only where it is inside its support's interior
    (0 and 1 are boundaries of count and proportion responses)."""
    rng = np.random.default_rng(seed)
    dirs = {k: rng.normal(size=np.shape(v)) for k, v in theta.items()}
    dirs["y"] = dirs["y"] * (theta["y"] > 0) * (theta["y"] != 1)
    return dirs


def stack(trees):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *trees)


def perturbed(theta, dirs, name, sign, h=None):
    """theta moved by sign * h along dirs[name]; h = H, or 10 H for a family parameter (whose
    derivatives are small, ~1e-2, so rounding in the refits weighs more)."""
    h = h if h is not None else step(name)
    out = dict(theta)
    out[name] = theta[name] + sign * h * dirs[name]
    return out


def step(name):
    return 10 * H if name == "param" else H


def contract(jac, dirs, name):
    """J_name . v_name for a Jacobian dict of shape (p, *input_shape)."""
    j = np.asarray(jac[name])
    return j.reshape(j.shape[0], -1) @ np.ravel(dirs[name])


def check(got, want, label):
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err < RTOL, f"{label}: relative error {err:.2e}\n got {got}\nwant {want}"
    return err


@functools.lru_cache(maxsize=None)
def jacobians_of(name):
    """One compiled function per family: the Jacobians of coef (batched, and unbatched for the
    slow families) and the batch's status."""
    ctor, _ = simulate(name, 0)

    @jax.jit
    def jacobians(theta, batch, max_iter):
        f = lambda t: coef_of(ctor, t, max_iter)
        out = dict(vfwd=jax.vmap(jax.jacfwd(f))(batch), vrev=jax.vmap(jax.jacrev(f))(batch),
                   status=jax.vmap(lambda t: fit_of(ctor, t, max_iter).status)(batch))
        if name not in FAST:   # (the fast family's unbatched Jacobians would double its compile time)
            out.update(fwd=jax.jacfwd(f)(theta), rev=jax.jacrev(f)(theta))
        return out

    return jacobians


def dataset_pair(name):
    ctor, theta0 = simulate(name, 0)
    _, theta1 = simulate(name, 1)
    if name == "binomial":
        theta1["weights"] = theta0["weights"]   # trials stay the same across the batch
    return ctor, theta0, theta1


@functools.lru_cache(maxsize=None)
def derivatives(name, aliased=False):
    """Jacobians and central differences for family ``name`` (computed once).

    ``aliased``: column 2 of X is twice column 1 (its coefficient is NaN, held at 0).
    """
    ctor, theta0, theta1 = dataset_pair(name)
    if aliased:
        for t in (theta0, theta1):
            t["X"] = t["X"].copy()
            t["X"][:, 2] = 2 * t["X"][:, 1]
    f = functools.partial(coef_of, ctor, solver="newton")   # quadratic convergence: exact refits
    dirs = [directions(theta0, 10), directions(theta1, 11)]
    points = [perturbed(t, d, k, s) for t, d in zip((theta0, theta1), dirs) for k in INPUTS for s in (1, -1)]
    coefs = np.asarray(jax.vmap(f)(stack(points))).reshape(2, len(INPUTS), 2, -1)
    fd = {(b, k): (coefs[b, i, 0] - coefs[b, i, 1]) / (2 * step(k)) for b in range(2) for i, k in enumerate(INPUTS)}
    jacs = jacobians_of(name)(theta0, stack([theta0, theta1]), 50)
    return dirs, fd, jacs


FAMILY_PARAMS = [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in
                 ("gaussian", "binomial", "poisson", "gamma", "inverse_gaussian", "negative_binomial",
                  "tweedie")]


@pytest.mark.parametrize("name", FAMILY_PARAMS)
def test_coef_derivatives_match_finite_differences(name):
    dirs, fd, jacs = derivatives(name)
    assert np.all(np.asarray(jacs["status"]) == 0)
    names = INPUTS if name in ("negative_binomial", "tweedie") else INPUTS[:-1]
    errors = {}
    for k in names:
        for mode in ("fwd", "rev"):
            if mode in jacs:
                errors[mode, k] = check(contract(jacs[mode], dirs[0], k), fd[0, k], f"{name} {mode} d/d{k}")
            for b in range(2):
                jac_b = jax.tree_util.tree_map(lambda a: a[b], jacs["v" + mode])
                errors["v" + mode, b, k] = check(contract(jac_b, dirs[b], k), fd[b, k],
                                                 f"{name} batched {mode}[{b}] d/d{k}")
    print(name, "max relative error", max(errors.values()), "(worst: %s)" % (max(errors, key=errors.get),))


def test_aliased_column_derivatives():
    """Aliased coefficient: NaN estimate, zero derivative; the others match central differences."""
    dirs, fd, jacs = derivatives("poisson", aliased=True)
    assert np.all(np.asarray(jacs["status"]) == jg.Status.ALIASED)
    for k in ("y", "weights", "offset", "l2"):     # moving X would break the aliasing
        for mode in ("vfwd", "vrev"):
            for b in range(2):
                got = contract(jax.tree_util.tree_map(lambda a: a[b], jacs[mode]), dirs[b], k)
                assert got[2] == 0.0
                check(got[:2], fd[b, k][:2], f"aliased {mode}[{b}] d/d{k}")


def test_not_converged_gives_nan_derivatives():
    """max_iter=1 stops before convergence: every derivative is NaN, in every mode."""
    _, theta0, theta1 = dataset_pair("poisson")
    jacs = jacobians_of("poisson")(theta0, stack([theta0, theta1]), 1)
    assert np.all(np.asarray(jacs["status"]) == jg.Status.MAX_ITER)
    for mode in ("vfwd", "vrev"):
        for k in INPUTS[:-1]:   # (Poisson has no parameter: d coef / d param is a symbolic zero)
            assert np.all(np.isnan(jacs[mode][k])), (mode, k)


def test_invalid_model_in_batch_flags_only_itself():
    """A batch member with invalid y (traced, so no ValueError) gets NaN derivatives; its neighbour does not."""
    _, theta0, theta1 = dataset_pair("poisson")
    bad = dict(theta1, y=-theta1["y"] - 1.0)
    jacs = jacobians_of("poisson")(theta0, stack([theta0, bad]), 50)
    assert list(np.asarray(jacs["status"])) == [jg.Status.CONVERGED, jg.Status.INVALID_INPUT]
    for mode in ("vfwd", "vrev"):
        for k in INPUTS[:-1]:
            assert np.all(np.isfinite(jacs[mode][k][0])) and np.all(np.isnan(jacs[mode][k][1])), (mode, k)


FIELDS = ("deviance", "null_deviance", "pearson_chi2", "loglik", "aic", "bic", "scale", "std_err",
          "statistic", "p_value", "cov")


def fields_of(theta, solver="irls"):
    """Every differentiable field of a Gamma fit (estimated scale, offset: null model by IRLS), and the
    fitted means, as one flat vector."""
    res = fit_of(lambda p: jg.Gamma(), theta, solver=solver)
    mean = jg.predict(res, theta["X"], offset=theta["offset"])
    return jnp.concatenate([jnp.ravel(getattr(res, k)) for k in FIELDS] + [mean])


@pytest.mark.slow   # (two compiles; the fast set checks the deviance's derivative in test_composition.py)
def test_other_fields_derivatives_match_finite_differences():
    _, theta, _ = dataset_pair("gamma")
    dirs = directions(theta, 12)
    dirs["X"][:, 0] = 0.0   # keep the constant column (it decides the null model)
    names = INPUTS[:-1]
    h = 1e-5   # scalar summaries (loglik, aic) lose more digits to rounding than coef
    points = [perturbed(theta, dirs, k, s, h) for k in names for s in (1, -1)]
    values = np.asarray(jax.vmap(functools.partial(fields_of, solver="newton"))(stack(points)))
    values = values.reshape(len(names), 2, -1)
    jac = jax.jit(jax.jacrev(fields_of))(theta)
    sizes = [1] * 7 + [3, 3, 3, 9, N]
    bounds = np.cumsum([0] + sizes)
    errors = {}
    for i, k in enumerate(names):
        fd = (values[i, 0] - values[i, 1]) / (2 * h)
        got = contract(jac, dirs, k)
        for field, lo, hi in zip(FIELDS + ("mean",), bounds[:-1], bounds[1:]):
            if field == "null_deviance" and k in ("X", "l2"):   # the null model has neither
                assert got[lo] == 0 and abs(fd[lo]) < 1e-6
                continue
            errors[field, k] = check(got[lo:hi], fd[lo:hi], f"d {field} / d {k}")
    print("fields max relative error", max(errors.values()))
