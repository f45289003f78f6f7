"""One named test per degenerate case, with its expected status, and honest numbers.

Shapes are shared (n = 40, p = 3 or 4) so the suite compiles each family/link once.
References are independent of jaxglm: statsmodels (started from the data-generating
parameters where a link can leave the mean's range), scipy's linprog for separability,
closed forms and equivariances.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import linprog

import jaxglm as jg
from jaxglm.status import SUCCESS, Status

N = 40


def status_of(res):
    return Status(int(res.status))


def assert_honest(res):
    """converged <=> a success code; success or separation => finite numbers (aliased coef NaN only)."""
    code = status_of(res)
    assert bool(res.converged) == (code in SUCCESS), code
    if code in SUCCESS or code == Status.SEPARATION:
        kept = ~np.asarray(res.aliased)
        for name in ("coef", "std_err"):
            assert np.all(np.isfinite(np.asarray(getattr(res, name))[kept])), (code, name)
        assert np.isfinite(float(res.deviance)) and float(res.deviance) >= -1e-8, code


def separable(X, y):
    """Independent check (Konis' LP): is there b != 0 with (2y - 1) * X b >= 0 for all rows?"""
    s = 2 * y - 1
    res = linprog(-(s @ X), A_ub=-(s[:, None] * X), b_ub=np.zeros(len(y)), bounds=[(-1, 1)] * X.shape[1])
    return res.status == 0 and -res.fun > 1e-7


def sm_fit(X, y, family, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.GLM(y, X, family=family, **{k: v for k, v in kw.items() if k != "start_params"}).fit(
            tol=1e-12, start_params=kw.get("start_params"))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(20260)


@pytest.fixture(scope="module")
def design(rng):
    x, z = rng.normal(size=(2, N))
    return np.column_stack([np.ones(N), x, z])


# -- separation -------------------------------------------------------------------------------------

def test_perfect_separation(design):
    y = (design[:, 1] > 0).astype(float)
    assert separable(design, y)
    res = jg.fit(design, y, jg.Binomial())
    assert status_of(res) == Status.SEPARATION and not bool(res.converged)
    assert_honest(res)
    assert float(res.coef[1]) > 5  # running away in the separating direction


def test_quasi_complete_separation(design, rng):
    X = design.copy()
    group = X[:, 1] > 0
    X[:, 1] = group.astype(float)
    y = np.where(group, 1.0, rng.integers(0, 2, N).astype(float))  # all successes in the group, mixed elsewhere
    assert separable(X, y)
    res = jg.fit(X, y, jg.Binomial())
    assert status_of(res) == Status.SEPARATION
    assert_honest(res)


def test_all_successes_is_separation(design):
    res = jg.fit(design, np.ones(N), jg.Binomial())
    assert status_of(res) == Status.SEPARATION
    assert_honest(res)


def test_extreme_but_legitimate_probabilities_are_not_flagged(design, rng):
    X = design.copy()
    X[:3, 1] = [-14.0, -12.0, 11.0]  # three far-out covariate values: fitted probabilities ~1e-9
    eta = 0.2 + 1.5 * X[:, 1] + 0.5 * X[:, 2]
    y = (rng.uniform(size=N) < 1 / (1 + np.exp(-eta))).astype(float)
    y[[3, 4, 5, 6]] = [0, 1, 1, 0]  # make sure the bulk overlaps
    X[[3, 4, 5, 6], 1] = [0.5, -0.5, -0.3, 0.4]
    assert not separable(X, y)
    res = jg.fit(X, y, jg.Binomial())
    mu = 1 / (1 + np.exp(-(X @ np.asarray(res.coef))))
    assert min(mu.min(), 1 - mu.max()) < 1e-6  # genuinely extreme fitted probabilities
    assert status_of(res) == Status.CONVERGED
    ref = sm_fit(X, y, sm.families.Binomial())
    np.testing.assert_allclose(res.coef, ref.params, rtol=1e-7)
    np.testing.assert_allclose(res.std_err, ref.bse, rtol=1e-6)


def test_zero_count_group_is_separation(design):
    X = design.copy()
    X[:, 1] = (X[:, 1] > 0.5).astype(float)
    y = np.where(X[:, 1] == 1, 0.0, 3.0)  # a group with only zero counts: its coefficient -> -inf
    res = jg.fit(X, y, jg.Poisson())
    assert status_of(res) == Status.SEPARATION
    assert_honest(res)
    res0 = jg.fit(design, np.zeros(N), jg.Poisson())  # all counts zero
    assert status_of(res0) == Status.SEPARATION
    assert_honest(res0)


# -- aliased columns --------------------------------------------------------------------------------

def _extra(design, kind):
    return {"duplicate": design[:, 1], "constant": np.full(N, 3.0),
            "combination": design[:, 1] - 2 * design[:, 2], "zero": np.zeros(N)}[kind]


@pytest.fixture(scope="module")
def counts(design, rng):
    return rng.poisson(np.exp(0.3 + 0.5 * design[:, 1] - 0.2 * design[:, 2])).astype(float)


@pytest.mark.parametrize("kind", ["duplicate", "constant", "combination", "zero"])
def test_aliased_column(design, counts, kind):
    X = np.column_stack([design, _extra(design, kind)])
    res = jg.fit(X, counts, jg.Poisson())
    assert status_of(res) == Status.ALIASED and bool(res.converged)
    np.testing.assert_array_equal(res.aliased, [False, False, False, True])  # R keeps the first
    assert np.isnan(res.coef[3]) and np.isnan(res.std_err[3])
    assert_honest(res)
    reduced = jg.fit(design, counts, jg.Poisson())
    ref = sm_fit(design, counts, sm.families.Poisson())
    np.testing.assert_allclose(res.coef[:3], reduced.coef, rtol=1e-10)
    np.testing.assert_allclose(res.coef[:3], ref.params, rtol=1e-8)
    np.testing.assert_allclose(res.std_err[:3], ref.bse, rtol=1e-8)
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=1e-10)
    assert float(res.df_resid) == N - 3 and float(res.df_model) == 2


def test_aliased_keeps_the_first_of_collinear_columns(design, counts):
    X = np.column_stack([design[:, 0], 2 * design[:, 1], design[:, 2], design[:, 1]])
    res = jg.fit(X, counts, jg.Poisson())
    np.testing.assert_array_equal(res.aliased, [False, False, False, True])
    X2 = np.column_stack([design[:, 0], design[:, 1], design[:, 1], design[:, 2]])
    np.testing.assert_array_equal(jg.fit(X2, counts, jg.Poisson()).aliased, [False, False, True, False])


def test_nearly_collinear_is_not_aliased_in_float64(design, counts, rng):
    X = np.column_stack([design, design[:, 1] + 1e-5 * rng.normal(size=N)])
    res = jg.fit(X, counts, jg.Poisson())
    assert not np.any(res.aliased) and status_of(res) == Status.CONVERGED
    ref = sm_fit(X, counts, sm.families.Poisson())
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=1e-8)


# -- links that can leave the mean's range ----------------------------------------------------------

def _line(seed):
    r = np.random.default_rng(seed)
    x = np.sort(r.uniform(0, 1, N))
    return r, np.column_stack([np.ones(N), x])


def _wls(X, z, w):
    return np.linalg.solve((X.T * w) @ X, X.T @ (w * z))


LEAVING = {
    # family, data, truth (statsmodels' start), first unconstrained IRLS step from R's mustart
    "poisson_identity": (jg.Poisson(link="identity"), sm.families.Poisson(sm.families.links.Identity()),
                         1, lambda r, x: r.poisson(0.3 + 4 * x).astype(float), [0.3, 4.0],
                         lambda X, y: X @ _wls(X, y, 1 / (y + 0.1)), lambda m: m.min() < 0),
    "gamma_identity": (jg.Gamma(link="identity"), sm.families.Gamma(sm.families.links.Identity()),
                       11, lambda r, x: r.gamma(2.0, (0.2 + 3 * x) / 2.0), [0.2, 3.0],
                       lambda X, y: X @ _wls(X, y, 1 / y**2), lambda m: m.min() < 0),
    "binomial_identity": (jg.Binomial(link="identity"), sm.families.Binomial(sm.families.links.Identity()),
                          11, lambda r, x: r.binomial(1, 0.1 + 0.8 * x).astype(float), [0.1, 0.8],
                          lambda X, y: X @ _wls(X, y, 4 / (1 - (2 * y - 1) ** 2 / 4)),
                          lambda m: (m.min() < 0) | (m.max() > 1)),
    "binomial_log": (jg.Binomial(link="log"), sm.families.Binomial(sm.families.links.Log()),
                     0, lambda r, x: r.binomial(1, np.exp(-2 + 1.9 * x)).astype(float), [-2.0, 1.9],
                     lambda X, y: X @ _wls(X, np.log((y + .5) / 2) + (y - (y + .5) / 2) / ((y + .5) / 2),
                                           ((y + .5) / 2) / (1 - (y + .5) / 2)),
                     lambda eta: eta.max() > 0),
}


SLOW_LEAVING = ("gamma_identity", "binomial_identity")  # one compile each: run with the slow tests


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow if c in SLOW_LEAVING else ())
                                  for c in LEAVING])
def test_link_leaving_the_range_still_fits(case):
    family, sm_family, seed, draw, truth, first_step, leaves = LEAVING[case]
    r, X = _line(seed)
    y = draw(r, X[:, 1])
    assert leaves(first_step(X, y))  # the unconstrained first step leaves the mean's range
    res = jg.fit(X, y, family, tol=1e-12)  # slow (linear) convergence near the edge: a tight tol
    assert status_of(res) == Status.CONVERGED
    assert_honest(res)
    ref = sm_fit(X, y, sm_family, start_params=np.asarray(truth))
    np.testing.assert_allclose(res.coef, ref.params, rtol=1e-6, atol=1e-6 * np.abs(ref.params).max())
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=1e-8)


# -- overflow, domain, iterations -------------------------------------------------------------------

def test_huge_counts_do_not_overflow(design, rng):
    # y ~ 1e200: mu**2 overflows, the IRLS weight (dmu/deta)^2 / V(mu) must not.
    y = np.exp(460 + 0.5 * design[:, 1]) * rng.gamma(50, 1 / 50, size=N)
    res = jg.fit(design, y, jg.Poisson())
    assert status_of(res) == Status.CONVERGED
    small = sm_fit(design, y * 1e-200, sm.families.Poisson())  # Poisson MLE is scale-equivariant
    np.testing.assert_allclose(res.coef, small.params + [200 * np.log(10), 0, 0], rtol=1e-9)
    np.testing.assert_allclose(np.asarray(res.std_err) * 1e100, small.bse, rtol=1e-7)
    np.testing.assert_allclose(float(res.deviance) * 1e-200, small.deviance, rtol=1e-7)


def test_overflowing_design_is_nonfinite(design, counts):
    X = design.copy()
    X[:, 1] *= 1e200  # X^T W X overflows
    res = jg.fit(X, counts, jg.Poisson())
    assert status_of(res) == Status.NONFINITE and not bool(res.converged)


def test_extreme_weight_is_honest(design, counts):
    w = np.ones(N)
    w[np.argmax(counts > 0)] = 1e300   # one observation counts 1e300 times
    res = jg.fit(design, counts, jg.Poisson(), weights=w)
    assert status_of(res) in (Status.CONVERGED, Status.NONFINITE)
    assert_honest(res)
    w[np.argmin(counts)] = 1e300       # ... and a zero count 1e300 times: its mean is pushed to ~1e-300
    res = jg.fit(design, counts, jg.Poisson(), weights=w)
    assert status_of(res) in (Status.CONVERGED, Status.NONFINITE, Status.SEPARATION)
    assert bool(res.converged) == (status_of(res) in SUCCESS)
    assert np.all(np.isfinite(res.coef)) and np.isfinite(float(res.deviance))


def test_max_iter(design, counts):
    res = jg.fit(design, counts, jg.Poisson(), max_iter=2)
    assert status_of(res) == Status.MAX_ITER and not bool(res.converged) and int(res.n_iter) == 2
    assert np.all(np.isfinite(res.coef))


# -- invalid input: eager ValueError, traced INVALID_INPUT ------------------------------------------

EAGER = [
    (dict(X=np.ones(N)), "2-D"),
    (dict(y=np.ones((N, 1))), "1-D"),
    (dict(y=np.ones(N - 1)), "rows"),
    (dict(weights=np.ones(N - 1)), "weights must have shape"),
    (dict(offset=np.ones((N, 2))), "offset must have shape"),
    (dict(y=np.r_[np.nan, np.ones(N - 1)]), "y contains non-finite"),
    (dict(X=np.r_[[[np.inf, 0, 0]], np.ones((N - 1, 3))]), "X contains non-finite"),
    (dict(weights=np.r_[-1.0, np.ones(N - 1)]), "non-negative"),
    (dict(weights=np.zeros(N)), "all zero"),
    (dict(y=np.r_[-1.0, np.ones(N - 1)]), "Poisson y must be non-negative"),
    (dict(family=jg.Binomial(), y=np.r_[1.5, np.ones(N - 1)]), r"proportion in \[0, 1\]"),
    (dict(family=jg.Gamma(), y=np.r_[0.0, np.ones(N - 1)]), "strictly positive"),
    (dict(l2=-1.0), "l2 must be non-negative"),
    (dict(max_iter=0), "max_iter"),
    (dict(tol=0.0), "tol"),
    (dict(solver="sgd"), "unknown solver"),
]


@pytest.mark.parametrize("kwargs, message", EAGER, ids=[m for _, m in EAGER])
def test_fit_raises_value_error_naming_the_problem(design, kwargs, message):
    args = dict(X=design, y=np.ones(N), family=jg.Poisson())
    args.update(kwargs)
    X, y, family = args.pop("X"), args.pop("y"), args.pop("family")
    with pytest.raises(ValueError, match=message):
        jg.fit(X, y, family, **args)


@pytest.mark.parametrize("make, message", [
    (lambda: jg.NegativeBinomial(alpha=-1.0), "alpha must be positive"),
    (lambda: jg.Tweedie(power=2.5), r"power must lie in \(1, 2\)"),
    (lambda: jg.Tweedie(power=0.5), r"power must lie in \(1, 2\)"),
    (lambda: jg.Poisson(link="logg"), "valid names are 'identity', 'log'"),
    (lambda: jg.links.Power(0.0), "non-zero power"),
])
def test_invalid_family_parameters_and_links(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_fit_many_raises_on_shapes_and_options(design):
    Y = np.ones((3, N))
    for kwargs, message in [(dict(Y=np.ones(N)), "Y must be"), (dict(X=np.ones((2, N, 3))), "X must have shape"),
                            (dict(weights=np.ones(N + 1)), "weights must be"), (dict(max_iter=0), "max_iter"),
                            (dict(tol=-1.0), "tol"), (dict(batch_size=0), "batch_size")]:
        args = dict(X=design, Y=Y)
        args.update(kwargs)
        with pytest.raises(ValueError, match=message):
            jg.fit_many(args.pop("X"), args.pop("Y"), jg.Poisson(), **args)


def test_mle_raises_on_non_finite_start():
    with pytest.raises(ValueError):
        jg.mle(lambda p: (p["a"] - 1.0) ** 2, {"a": np.array(np.nan)})
    with pytest.raises(ValueError, match="max_iter"):
        jg.mle(lambda p: (p["a"] - 1.0) ** 2, {"a": np.array(0.0)}, max_iter=0)


def test_bad_numbers_in_a_batch_are_invalid_input_for_that_model_only(design, counts):
    """One fit_many batch: NaN y, a negative count, all-zero weights (INVALID_INPUT for that model
    only), an extreme offset (exp(700) ~ 1e304, checked by equivariance), good models as alone."""
    Y = np.stack([counts, counts, counts + 1, counts, counts * 2, counts])
    Y[1, 4] = np.nan           # NaN in y
    Y[3, 7] = -2.0             # negative count
    W = np.ones((6, N))
    W[4] = 0.0                 # all-zero weights
    offset = np.zeros((6, N))
    offset[5] = 700.0          # extreme offset: the intercept absorbs it
    res = jg.fit_many(design, Y, jg.Poisson(), weights=W, offset=offset)
    np.testing.assert_array_equal(res.status, [Status.CONVERGED, Status.INVALID_INPUT, Status.CONVERGED,
                                               Status.INVALID_INPUT, Status.INVALID_INPUT, Status.CONVERGED])
    assert not np.any(np.asarray(res.converged)[[1, 3, 4]])
    for b in (0, 2):
        alone = jg.fit(design, Y[b], jg.Poisson())
        np.testing.assert_allclose(res.coef[b], alone.coef, rtol=1e-12)
        np.testing.assert_allclose(res.std_err[b], alone.std_err, rtol=1e-12)
        np.testing.assert_allclose(res.deviance[b], alone.deviance, rtol=1e-12)
    ref = sm_fit(design, counts, sm.families.Poisson())
    np.testing.assert_allclose(res.coef[5], ref.params - [700, 0, 0], rtol=1e-8)
    np.testing.assert_allclose(res.std_err[5], ref.bse, rtol=1e-8)
    np.testing.assert_allclose(res.deviance[5], ref.deviance, rtol=1e-9)


def test_traced_family_parameter_out_of_range_is_invalid_input():
    """Under jit/vmap a family parameter cannot be checked by its constructor: ``family_is_valid``
    (part of ``input_is_valid``, which sets INVALID_INPUT) catches it."""
    import jax
    from jaxglm._validate import family_is_valid

    def with_leaf(family, value):
        return jax.tree_util.tree_map(lambda _: value, family)

    check = jax.jit(jax.vmap(lambda a: family_is_valid(with_leaf(jg.NegativeBinomial(), a))))
    np.testing.assert_array_equal(check(np.array([0.5, -1.0, 0.0, np.nan, np.inf])),
                                  [True, False, False, False, False])
    tweedie = jax.vmap(lambda q: family_is_valid(with_leaf(jg.Tweedie(), q)))
    np.testing.assert_array_equal(tweedie(np.array([1.5, 1.0, 2.0, 2.5])), [True, False, False, False])


def test_non_finite_entries_are_invalid_input_for_that_model_only(design, counts):
    """Traced (fit_many with one X per model): +inf, -inf or NaN anywhere in X, a NaN weight or
    an infinite offset make that model INVALID_INPUT; the clean models equal their solo fits."""
    B = 6
    X = np.repeat(design[None], B, axis=0)
    X[1, 3, 1], X[2, 5, 2], X[3, 0, 0] = np.inf, -np.inf, np.nan
    W, offset = np.ones((B, N)), np.zeros((B, N))
    W[4, 2] = np.nan
    offset[5, 9] = np.inf
    res = jg.fit_many(X, np.repeat(counts[None], B, axis=0), jg.Poisson(), weights=W, offset=offset)
    np.testing.assert_array_equal(res.status, [Status.CONVERGED] + [Status.INVALID_INPUT] * 5)
    alone = jg.fit(design, counts, jg.Poisson())
    np.testing.assert_allclose(res.coef[0], alone.coef, rtol=1e-12)


def test_start_point_is_zeros_unless_the_mean_at_the_offset_is_invalid(design, counts):
    """The first step is halved towards zeros when X 0 + offset gives valid means (log link),
    else towards the least-squares start (identity link at offset 0: the mean 0 is invalid);
    under vmap each model gets its own (``cond_any``)."""
    import jax
    import jax.numpy as jnp
    from jaxglm.fit import start_beta, start_point

    X, y, w = (jnp.asarray(a) for a in (design, counts, np.ones(N)))
    alias = jnp.zeros(3, bool)
    gram = X.T @ X

    def start(family, offset):
        return start_point(family, X, y, w, offset, alias)

    np.testing.assert_array_equal(start(jg.Poisson(), jnp.zeros(N)), np.zeros(3))
    identity = jg.Poisson(link="identity")
    least_squares = start_beta(identity, X, y, w, jnp.zeros(N), alias, gram)
    np.testing.assert_allclose(least_squares, [np.mean(counts), 0, 0], atol=1e-12)  # intercept column first
    np.testing.assert_allclose(start(identity, jnp.zeros(N)), least_squares, atol=1e-12)
    offsets = jnp.stack([jnp.full(N, 1.0), jnp.zeros(N)])  # identity: mean 1 valid, mean 0 not
    batched = jax.vmap(lambda off: start(identity, off))(offsets)
    np.testing.assert_array_equal(batched[0], np.zeros(3))
    np.testing.assert_allclose(batched[1], least_squares, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_separation_rank_test_agrees_with_aliased_columns(dtype):
    """``loses_rank`` (one Cholesky of the scaled Gram matrix, which the separation test runs)
    says exactly what the column-by-column ``aliased_columns`` says of columns not already
    aliased: on full-rank designs, exact and near-collinear ones, an all-zero column and rows
    dropped, with and without columns aliased beforehand."""
    import jax
    import jax.numpy as jnp
    from jaxglm.fit import aliased_columns, loses_rank
    from jaxglm.solvers.gram import gram_operator
    eps = float(np.finfo(dtype).eps)
    rng = np.random.default_rng(41)
    cases = []
    for _ in range(4):
        X = np.column_stack([np.ones(30), rng.normal(size=(30, 4))])
        cases.append(X)
        collinear = X.copy()
        collinear[:, 3] = X[:, 1] - 2 * X[:, 2]
        cases.append(collinear)
        near = collinear.copy()
        near[:, 3] += rng.normal(size=30) * np.sqrt(eps) * rng.choice([1e-2, 1e2])
        cases.append(near)
        dummy = X.copy()
        dummy[:, 4] = 0.0
        dummy[rng.integers(30), 4] = 1.0   # a column non-zero in one row: lost when that row goes
        cases.append(dummy)
    check = jax.jit(lambda X, w, alias: (loses_rank(gram_operator(X)(w), alias),
                                         jnp.any(aliased_columns(X, w) & ~alias)))
    alias_all_rows = jax.jit(lambda X: aliased_columns(X, jnp.ones(30, X.dtype)))
    Xs, Ws, As = [], [], []
    for X in cases:
        for drop in (np.zeros(30, bool), rng.uniform(size=30) < 0.2, np.abs(X[:, 4]) > 0):
            for alias in (np.zeros(5, bool), np.asarray(alias_all_rows(jnp.asarray(X, dtype)))):
                Xs.append(X), Ws.append(~drop), As.append(alias)
    fast, reference = jax.vmap(check)(jnp.asarray(np.stack(Xs), dtype), jnp.asarray(np.stack(Ws), dtype),
                                      jnp.asarray(np.stack(As)))
    np.testing.assert_array_equal(fast, reference)
    assert set(np.asarray(reference).tolist()) == {True, False}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_start_aliased_agrees_with_aliased_columns(dtype):
    """``start_aliased`` (aliasing read off the first step's weighted Gram matrix, with the
    column-by-column test only when that is not clearly of full rank) says exactly what
    ``aliased_columns`` says on the unweighted one: for full-rank, exactly and nearly collinear
    designs, zero weights, and working weights that hide a near-collinearity (one heavily
    weighted row carries the whole residual: without the b / a factor the weighted pivots
    would pass)."""
    import jax
    import jax.numpy as jnp
    from jaxglm.fit import aliased_columns, alias_threshold, start_aliased
    from jaxglm.solvers.gram import gram_operator
    rng = np.random.default_rng(43)
    threshold = float(alias_threshold(dtype))
    cases = []
    for _ in range(3):
        X = np.column_stack([np.ones(30), rng.normal(size=(30, 3))])
        even = rng.uniform(0.5, 2.0, size=30)
        cases += [(X, np.ones(30), even), (X, (rng.uniform(size=30) > 0.2).astype(float), even)]
        collinear = X.copy()
        collinear[:, 3] = X[:, 1] - 2 * X[:, 2]
        cases.append((collinear, np.ones(30), even))
        # Column 3 collinear but for a small residual on rows where its collinear part is 0:
        # its squared residual is ~threshold / 10 unweighted, ~100 threshold with those rows
        # weighted 1000 times the others.
        rows = np.arange(30) < 10
        hidden = collinear.copy()
        hidden[rows, 1] = 2 * hidden[rows, 2]
        hidden[:, 3] = hidden[:, 1] - 2 * hidden[:, 2]
        spike = np.where(rows, rng.normal(size=30), 0.0)
        unit = np.column_stack([hidden[:, :3], hidden[:, 3] + spike])
        corr = unit.T @ unit / np.sqrt(np.outer(np.sum(unit**2, 0), np.sum(unit**2, 0)))
        residual = np.diagonal(np.linalg.cholesky(corr))[3] ** 2  # of column 3 for a unit spike
        hidden[:, 3] += spike * np.sqrt(threshold / 10 / residual)
        cases += [(hidden, np.ones(30), np.where(rows, 1e3, 1.0)), (hidden, np.ones(30), even)]
    check = jax.jit(lambda X, w, W: (start_aliased(gram_operator(X)(W * (w > 0)), W * (w > 0), X, w),
                                     aliased_columns(X, w)))
    fast, reference = jax.vmap(check)(*(jnp.asarray(np.stack(a), dtype) for a in zip(*cases)))
    np.testing.assert_array_equal(fast, reference)
    assert np.asarray(reference).any() and not np.asarray(reference).all()
    assert np.asarray(reference)[3::5].any(), "the hidden near-collinearity is not aliased: the test proves nothing"


def test_constant_column_test_agrees_with_its_definition():
    """``has_constant_column`` (a column constant and non-zero over the observations with
    weight > 0) on X^T, alone and under vmap with shared and per-model weights, equals numpy's
    answer: an intercept, a constant 3, zeros (of both signs), a column constant only where the
    weight is > 0, and none."""
    import jax
    import jax.numpy as jnp
    from jaxglm.fit import has_constant_column
    rng = np.random.default_rng(44)
    n = 12
    zero_weight = np.arange(n) % 4 == 0

    def design(kind):
        X = rng.normal(size=(n, 3))
        if kind == "intercept":
            X[:, 1] = 1.0
        elif kind == "three":
            X[:, 2] = 3.0
        elif kind == "zeros":
            X[:, 0] = np.where(np.arange(n) % 2 == 0, 0.0, -0.0)
        elif kind == "where used":
            X[:, 1] = np.where(zero_weight, 5.0, 2.0)
        return X

    def expected(X, w):
        used = X[w > 0]
        return bool(np.any(np.all(used == used[0], axis=0) & (used[0] != 0)))

    kinds = ["intercept", "three", "zeros", "where used", "none"]
    Xs = np.stack([design(k) for k in kinds])
    ones, holes = np.ones(n), np.where(zero_weight, 0.0, 1.0)
    check = lambda X, w: has_constant_column(X, w, Xt=X.T)
    for weights in (ones, holes):
        want = [expected(X, weights) for X in Xs]
        got = [bool(check(jnp.asarray(X), jnp.asarray(weights))) for X in Xs]
        assert got == want
        assert np.asarray(jax.vmap(check, in_axes=(0, None))(jnp.asarray(Xs), jnp.asarray(weights))).tolist() == want
    per_model = np.stack([ones, holes, ones, holes, ones])
    want = [expected(X, w) for X, w in zip(Xs, per_model)]
    assert np.asarray(jax.vmap(check)(jnp.asarray(Xs), jnp.asarray(per_model))).tolist() == want
    assert want == [True, True, False, True, False]
    assert [expected(X, ones) for X in Xs] == [True, True, False, False, False]
