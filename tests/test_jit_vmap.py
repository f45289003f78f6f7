"""The JAX contract of ``jg.fit``: jit without static arguments, vmap over data and
family parameters, batched results equal per-model fits, no recompilation.

References: statsmodels GLM per model (independent) and the eager ``jg.fit``.
Compilations are counted with JAX's own monitoring event for backend compiles.
"""


import jax
import numpy as np
import pytest
import statsmodels.api as sm

import jaxglm as jg
from compile_counter import count_compiles

B, N, P = 4, 50, 3


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = np.stack([np.column_stack([np.ones(N), rng.normal(size=(N, P - 1))]) for _ in range(B)])
    weights = rng.integers(1, 4, size=(B, N)).astype(float)
    offset = rng.normal(0, 0.2, size=(B, N))
    mu = np.exp(np.einsum("bnp,p->bn", X, np.array([0.4, 0.3, -0.2])) + offset)
    Y = rng.poisson(mu).astype(float)
    return X, Y, weights, offset


@pytest.fixture(scope="module")
def jitted_fit():
    return jax.jit(jg.fit)


def test_jit_without_static_arguments(data, jitted_fit):
    X, Y, weights, offset = data
    res = jitted_fit(X[0], Y[0], jg.Poisson(), weights=weights[0], offset=offset[0], tol=1e-12)
    ref = sm.GLM(Y[0], X[0], family=sm.families.Poisson(), offset=offset[0],
                 var_weights=weights[0]).fit(tol=1e-12)
    np.testing.assert_allclose(res.coef, ref.params, rtol=1e-6)
    np.testing.assert_allclose(res.std_err, ref.bse, rtol=1e-6)
    np.testing.assert_allclose(res.deviance, ref.deviance, rtol=1e-8)


def test_jit_second_call_same_shapes_does_not_recompile(data, jitted_fit):
    X, Y, weights, offset = data
    jitted_fit(X[0], Y[0], jg.Poisson(), weights=weights[0], offset=offset[0], tol=1e-12)
    size = jitted_fit._cache_size()
    with count_compiles() as compiles:
        res = jitted_fit(X[1], Y[1], jg.Poisson(), weights=weights[1], offset=offset[1], tol=1e-12)
        res.coef.block_until_ready()
    assert compiles == [] and jitted_fit._cache_size() == size
    ref = sm.GLM(Y[1], X[1], family=sm.families.Poisson(), offset=offset[1],
                 var_weights=weights[1]).fit(tol=1e-12)
    np.testing.assert_allclose(res.coef, ref.params, rtol=1e-6)


def test_eager_fit_second_call_does_not_recompile():
    """Shapes as in test_fit_many (n=60, p=3, no offset), so the program is shared."""
    rng = np.random.default_rng(14)
    X = np.column_stack([np.ones(60), rng.normal(size=(60, 2))])
    Y = rng.poisson(1.5, size=(2, 60)).astype(float)
    jg.fit(X, Y[0], jg.Poisson()).coef.block_until_ready()
    with count_compiles() as compiles:
        jg.fit(X, Y[1], jg.Poisson()).coef.block_until_ready()
    assert compiles == []


@pytest.fixture(scope="module")
def vmapped_fit():
    def one(X, y, weights, offset):
        return jg.fit(X, y, jg.Poisson(), weights=weights, offset=offset, tol=1e-12)
    return jax.jit(jax.vmap(one))


def test_vmap_over_X_y_weights_offset(data, vmapped_fit):
    X, Y, weights, offset = data
    res = vmapped_fit(X, Y, weights, offset)
    assert res.coef.shape == (B, P) and res.cov.shape == (B, P, P) and res.status.shape == (B,)
    for b in range(B):
        ref = sm.GLM(Y[b], X[b], family=sm.families.Poisson(), offset=offset[b],
                     var_weights=weights[b]).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6)
        np.testing.assert_allclose(res.std_err[b], ref.bse, rtol=1e-6)
        np.testing.assert_allclose(res.deviance[b], ref.deviance, rtol=1e-8)
        np.testing.assert_allclose(res.null_deviance[b], ref.null_deviance, rtol=1e-8)


def test_vmap_equals_per_model_fits(data, vmapped_fit, jitted_fit):
    X, Y, weights, offset = data
    res = vmapped_fit(X, Y, weights, offset)
    for b in range(B):
        alone = jitted_fit(X[b], Y[b], jg.Poisson(), weights=weights[b], offset=offset[b], tol=1e-12)
        for field in ("coef", "cov", "deviance", "null_deviance", "loglik", "n_iter", "status"):
            np.testing.assert_allclose(getattr(res, field)[b], getattr(alone, field), rtol=1e-10)


def test_vmap_second_call_does_not_recompile(data, vmapped_fit):
    X, Y, weights, offset = data
    vmapped_fit(X, Y, weights, offset).coef.block_until_ready()
    with count_compiles() as compiles:
        vmapped_fit(X[::-1].copy(), Y[::-1].copy(), weights, offset).coef.block_until_ready()
    assert compiles == []


def test_vmap_over_negative_binomial_alpha(data):
    """A vector of alphas: the family is a pytree whose leaf ``alpha`` is mapped."""
    X, _, _, _ = data
    rng = np.random.default_rng(12)
    alphas = np.array([0.2, 0.5, 1.0, 2.0])
    mu = np.exp(X @ np.array([0.4, 0.3, -0.2]))
    Y = rng.negative_binomial(1 / alphas[:, None], 1 / (1 + alphas[:, None] * mu)).astype(float)
    fit_alpha = jax.vmap(lambda X, y, alpha: jg.fit(X, y, jg.NegativeBinomial(alpha=alpha), tol=1e-12))
    res = fit_alpha(X, Y, alphas)
    np.testing.assert_allclose(res.family.alpha, alphas)
    for b in range(B):
        ref = sm.GLM(Y[b], X[b], family=sm.families.NegativeBinomial(alpha=alphas[b])).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(res.std_err[b], ref.bse, rtol=1e-6)
        np.testing.assert_allclose(res.deviance[b], ref.deviance, rtol=1e-8)


@pytest.mark.slow  # one more compile; the NegativeBinomial test covers mapped family parameters
def test_vmap_over_family_object_tweedie_power(data):
    """``in_axes`` may map the family object itself: one Tweedie power per model, shared X."""
    X, _, _, _ = data
    rng = np.random.default_rng(13)
    powers = np.array([1.2, 1.4, 1.6, 1.8])
    y = rng.gamma(2.0, np.exp(X[0] @ np.array([0.4, 0.3, -0.2])) / 2.0)
    family = jg.Tweedie(power=powers)
    res = jax.vmap(lambda fam: jg.fit(X[0], y, fam, tol=1e-12))(family)
    for b in range(B):
        ref = sm.GLM(y, X[0], family=sm.families.Tweedie(var_power=powers[b])).fit(tol=1e-12)
        np.testing.assert_allclose(res.coef[b], ref.params, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(res.std_err[b], ref.bse, rtol=1e-6)
        np.testing.assert_allclose(res.scale[b], ref.scale, rtol=1e-6)


@pytest.mark.parametrize("in_axes", [(None, 0), (0, 0), (0, None), (2, 1)])
def test_gram_operator_under_vmap_equals_plain_product(in_axes):
    """gram_operator(X)(w) batched over shared X, per-model X or weights equals X^T diag(w) X,
    and its forward and reverse derivatives equal those of the plain product."""
    from jaxglm.solvers.gram import gram_operator
    rng = np.random.default_rng(15)
    X, W = rng.normal(size=(5, 20, 3)), rng.uniform(size=(5, 20))
    args = [X[0] if in_axes[0] is None else X, W[0] if in_axes[1] is None else W]
    if in_axes == (2, 1):
        args = [np.moveaxis(X, 0, 2), W.T]
    plain = lambda X, w: (X.T * w) @ X
    operator = lambda X, w: gram_operator(X)(w)
    got = jax.vmap(operator, in_axes=in_axes)(*args)
    np.testing.assert_allclose(got, jax.vmap(plain, in_axes=in_axes)(*args), rtol=1e-13, atol=1e-13)
    loss = lambda fn: jax.jit(lambda X, w: jax.numpy.sum(jax.numpy.sin(jax.vmap(fn, in_axes=in_axes)(X, w))))
    for diff in (jax.grad, jax.jacfwd):
        got = diff(loss(operator), argnums=(0, 1))(*args)
        want = diff(loss(plain), argnums=(0, 1))(*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_shared_gram_operator_equals_plain_product(monkeypatch):
    """fit_many's shared-X Gram (Khatri-Rao rows, one product W @ K) equals X^T diag(w) X for
    each model, and so does its fallback when K would be too large; derivatives agree too."""
    from jaxglm.solvers import gram
    rng = np.random.default_rng(16)
    X, W = rng.normal(size=(20, 4)), rng.uniform(size=(5, 20))
    want = np.einsum("ni,bn,nj->bij", X, W, X)
    np.testing.assert_allclose(jax.vmap(gram.shared_gram_operator(jax.numpy.asarray(X)))(W), want, rtol=1e-13)
    loss = lambda X, W: jax.numpy.sum(jax.numpy.sin(jax.vmap(gram.shared_gram_operator(X))(W)))
    plain = lambda X, W: jax.numpy.sum(jax.numpy.sin(jax.numpy.einsum("ni,bn,nj->bij", X, W, X)))
    for g, w in zip(jax.grad(loss, argnums=(0, 1))(X, W), jax.grad(plain, argnums=(0, 1))(X, W)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(gram, "MAX_PAIR_ELEMENTS", 10)
    np.testing.assert_allclose(jax.vmap(gram.shared_gram_operator(jax.numpy.asarray(X)))(W), want, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_design_gram_in_each_dtype_equals_plain_product(dtype):
    """A small X's Gram matrix, (X^T * w) @ X in float64 and (X^T * w) @ (X^T)^T in float32,
    computes in the dtype given and equals the float64 product to that dtype's precision, batched
    too; with X^T alone (X formed as its transpose, as ``fit_many`` passes a float32 X) as well."""
    from jaxglm.solvers import gram
    rng = np.random.default_rng(18)
    X, W = rng.normal(size=(3, 40, 5)), rng.uniform(0.1, 2, size=(3, 40))
    want = np.einsum("bni,bn,bnj->bij", X, W, X)
    Xt = jax.numpy.asarray(np.ascontiguousarray(X.transpose(0, 2, 1)), dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    for make in (lambda x, xt: gram.Design(x), lambda x, xt: gram.Design(x, Xt=xt),
                 lambda x, xt: gram.Design(None, Xt=xt)):
        got = jax.jit(jax.vmap(lambda x, xt, w: make(x, xt).gram(w)))(jax.numpy.asarray(X, dtype), Xt,
                                                                       jax.numpy.asarray(W, dtype))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


@pytest.mark.parametrize("p", [8, 9, 10, 13, 15, 16, 17, 20])
def test_design_gram_on_leading_columns_equals_plain_product(p):
    """A float64 Gram matrix whose product runs on X's leading 8 floor(p / 8) columns (the rest
    from products of the trailing columns, ``lead_columns``) equals X^T diag(w) X in every entry,
    for X given and X^T given, batched; its derivatives equal the plain product's.  p a multiple
    of 8 (no split) is checked the same way."""
    from jaxglm.solvers import gram
    lead = gram.lead_columns(p, np.float64)
    assert lead == (0 if p % 8 == 0 else 8 * (p // 8))
    rng = np.random.default_rng(19 + p)
    X, W = rng.normal(size=(2, 30, p)), rng.uniform(0.1, 2, size=(2, 30))
    want = np.einsum("bni,bn,bnj->bij", X, W, X)
    Xt = np.ascontiguousarray(X.transpose(0, 2, 1))
    for make in (lambda x, xt: gram.Design(x), lambda x, xt: gram.Design(x, Xt=xt)):
        got = jax.jit(jax.vmap(lambda x, xt, w: make(x, xt).gram(w)))(X, Xt, W)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())
    operator = lambda X, w: gram.Design(X).gram(w)
    plain = lambda X, w: (X.T * w) @ X
    loss = lambda fn: jax.jit(lambda X, w: jax.numpy.sum(jax.numpy.sin(fn(X, w))))
    got = jax.grad(loss(operator), argnums=(0, 1))(X[0], W[0])
    for g, w in zip(got, jax.grad(loss(plain), argnums=(0, 1))(X[0], W[0])):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-11)


def test_gram_on_leading_columns_fit_equals_whole_product_and_statsmodels(monkeypatch):
    """A logistic fit with p = 10 (Gram products on 8 leading columns) equals the same fit with
    whole products (no split) and statsmodels: estimates, standard errors, deviance."""
    from jaxglm.solvers import gram
    from jaxglm.fit import fit_arrays
    rng = np.random.default_rng(20)
    X = np.column_stack([np.ones(200), rng.normal(size=(200, 9))])
    y = rng.binomial(1, 1 / (1 + np.exp(-X @ rng.normal(0, 0.3, 10)))).astype(float)
    args = (X, y, jg.Binomial(), np.ones(200), np.zeros(200), np.zeros(10), 50, 1e-8)
    # A new jit of a new function each time: traced afresh, so the patch below takes effect.
    fit_now = lambda: jax.jit(lambda *a: fit_arrays(*a, has_offset=False), static_argnums=2)(*args)
    assert gram.lead_columns(10, np.float64) == 8
    split = fit_now()
    monkeypatch.setattr(gram, "lead_columns", lambda p, dtype: 0)
    whole = fit_now()
    ref = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
    for name in ("coef", "std_err", "deviance"):
        np.testing.assert_allclose(getattr(split, name), getattr(whole, name), rtol=1e-10)
    np.testing.assert_allclose(split.coef, ref.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(split.std_err, ref.bse, rtol=1e-6)
    np.testing.assert_allclose(split.deviance, ref.deviance, rtol=1e-10)


def test_design_layouts_agree(monkeypatch):
    """Design's X^T layout (small X; X^T formed or given, as ``fit_many`` stages it) and
    X-as-given layout (large X) give the same products, and a fit through the large layout
    equals the default fit."""
    from jaxglm.solvers import gram
    from jaxglm.fit import fit_arrays
    rng = np.random.default_rng(17)
    X, b, z, w = rng.normal(size=(30, 4)), rng.normal(size=4), rng.normal(size=30), rng.uniform(size=30)
    small = gram.Design(jax.numpy.asarray(X))
    given = gram.Design(jax.numpy.asarray(X), Xt=jax.numpy.asarray(np.ascontiguousarray(X.T)))
    monkeypatch.setattr(gram, "MAX_TRANSPOSED_ELEMENTS", 0)
    large = gram.Design(jax.numpy.asarray(X))
    assert large.large and not small.large and not given.large
    for d in (small, given, large):
        np.testing.assert_allclose(d.matvec(b), X @ b, rtol=1e-13)
        np.testing.assert_allclose(d.rmatvec(z), X.T @ z, rtol=1e-13)
        np.testing.assert_allclose(d.gram(w), (X.T * w) @ X, rtol=1e-13)
    X[:, 0] = 1
    y = rng.poisson(np.exp(X @ [0.5, 0.2, -0.1, 0.3])).astype(float)
    args = (X, y, jg.Poisson(), np.ones(30), np.zeros(30), np.zeros(4), 50, 1e-10)
    got = jax.jit(lambda *a: fit_arrays(*a, has_offset=False), static_argnums=2)(*args)
    want = jg.fit(X, y, jg.Poisson(), tol=1e-10)
    for name in ("coef", "cov", "deviance", "null_deviance", "loglik"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-10)
