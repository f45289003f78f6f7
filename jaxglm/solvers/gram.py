"""The weighted Gram matrix X^T diag(w) X: every Newton/IRLS Hessian of a GLM.

A fit forms X^T W X for one fixed X and many weights (one per iteration, the
rank check and the information at the estimate), and X beta and X^T z as
often.  ``Design(X)`` does the per-X work once and offers the three products
in the layout XLA:CPU runs fastest for X's size: for a small X (the
many-models case) through X^T, transposed once per fit; for a large X (one
big model, ``MAX_TRANSPOSED_ELEMENTS``) on X as given.  ``gram_operator(X)``
is ``Design(X).gram``.

Why the transposed layout for a small X (measured on XLA:CPU, float64, n = 1000, p = 10,
batches of 32 models): with rows of X^T contiguous, the batched product runs
in XLA's fused (XNNPACK) dot kernel at about 8 us per model against 16 us
for ``einsum('ni,n,nj->ij')`` on X as given, and X^T z costs 1.1 against
4.3 us.  One transpose per fit pays for itself after the first iteration.

Under ``jax.vmap`` every case batches into few large products by itself: X
shared (unbatched) and weights batched, ``(X^T * W[b]) @ X`` is one (B p, n)
x (n, p) matrix product for all models; X batched, one batched product.
Plain JAX operations, so forward and reverse derivatives need no rule.

``shared_gram_operator(X)`` is for a caller that knows X is shared by a batch
(``fit_many`` with an (n, p) X): it precomputes the Khatri-Rao rows
K[i, jk] = X_ij X_ik over the pairs j <= k once, so the Gram matrices of all B
models are one (B, n) x (n, p (p + 1) / 2) product ``W @ K``: half the
multiply-adds of the plain product and a better-shaped one (measured on
workload B: 3.0 against 7.6 us per model and iteration).

Example::

    >>> import jax, jax.numpy as jnp
    >>> X = jnp.arange(6.0).reshape(3, 2); W = jnp.ones((4, 3))
    >>> jax.vmap(gram_operator(X))(W).shape
    (4, 2, 2)
"""

import jax.numpy as jnp
import numpy as np


#: Largest X (n p elements) whose products go through X^T.  Past it a fit is one large model:
#: X^T z as a fused multiply-and-reduce over X's rows and (X^T * w) @ X as given are fast,
#: while XLA would copy a transposed X (and take page faults on it) at every use.  Measured,
#: n = 400,000, p = 50: X^T z 83 ms through a transpose against 7 ms; five Gram matrices in a
#: loop 0.94 s on the X^T layout against 0.33 s.
MAX_TRANSPOSED_ELEMENTS = 2**22


class Design:
    """The products a fit needs with a fixed design X (n, p), in the layout that XLA:CPU runs
    fastest for its size: ``matvec(beta)`` = X beta (n,), ``rmatvec(z)`` = X^T z (p,), and
    ``gram(weight)`` = X^T diag(weight) X (p, p).  ``Xt`` is X^T for a small X, else None.
    ``gram`` may be given (``shared_gram_operator`` for a shared X), and so may ``Xt``, the
    same X^T already laid out in memory (``fit_many`` copies it so on the host); with X None,
    X is ``Xt.T``.  The Gram matrix is (X^T * weight) @ X, both operands row-major: in float64
    XNNPACK's kernel for that form is about twice as fast as for (X^T * weight) @ (X^T)^T.  In
    float32 it is the other way round (n = 1000, p = 10, batches of 48: 6.2 against 8.4 us per
    model), so a float32 Gram matrix is (X^T * weight) @ (X^T)^T and reads X^T alone.  In the
    float64 form, when p is not a multiple of ``LEAD_BLOCK`` the product runs on X's leading
    columns and the rest comes from precomputed column products (``lead_columns``).

    Example::

        >>> import jax.numpy as jnp
        >>> d = Design(jnp.arange(6.0).reshape(3, 2))
        >>> d.gram(jnp.ones(3)).tolist(), d.rmatvec(jnp.ones(3)).tolist()
        ([[20.0, 26.0], [26.0, 35.0]], [6.0, 9.0])
    """

    def __init__(self, X, gram=None, Xt=None):
        # X None: the caller has X^T alone (``fit_many``'s float32 staging); X is its transpose.
        self.X = Xt.T if X is None else X
        self.large = is_large(self.X.shape)
        self.Xt = None if self.large else (self.X.T if Xt is None else Xt)
        self._gram = gram
        p = self.X.shape[-1]
        lead = 0 if gram is not None or self.large else lead_columns(p, self.X.dtype)
        if lead:  # built once per X, outside any loop over weights
            self._lead = (self.X[..., :lead], remainder_products(self.Xt, lead),
                          _assembly_index(p, lead))
        else:
            self._lead = None

    def matvec(self, beta):
        return self.X @ beta if self.large else beta @ self.Xt

    def rmatvec(self, z):
        return jnp.sum(self.X * z[:, None], axis=0) if self.large else self.Xt @ z

    def gram(self, weight):
        if self._gram is not None:
            return self._gram(weight)
        if self.large:  # no stored X^T
            return (self.X.T * weight) @ self.X
        if reads_only_transposed(self.Xt.dtype):
            return (self.Xt * weight) @ self.Xt.T
        if self._lead is not None:
            X_lead, products, index = self._lead
            first = (self.Xt * weight) @ X_lead        # columns [0, lead) of the Gram matrix
            rest = products @ weight                   # its trailing block, lower triangle
            return jnp.concatenate([first.reshape(-1), rest])[index]
        return (self.Xt * weight) @ self.X


def is_large(shape):
    """True for a design of ``shape`` (..., n, p) whose products run on X as given, not X^T."""
    return shape[-2] * shape[-1] > MAX_TRANSPOSED_ELEMENTS


#: Columns of the float64 Gram product's right operand per SIMD block (see ``lead_columns``).
LEAD_BLOCK = 8


def lead_columns(p, dtype):
    """Columns of X the float64 Gram product (X^T * w) @ X runs on; 0 for all of them.

    XNNPACK's float64 kernel computes the product's columns in blocks of ``LEAD_BLOCK`` (one
    AVX-512 vector), at the same cost for a partly filled block as a full one.  For p = 10 it
    computes 16 columns to keep 10.  When p is not a multiple of the block, the product runs
    on the leading multiple, lead = 8 floor(p / 8) columns, giving the Gram matrix's columns
    [0, lead) (and by symmetry its rows [0, lead)); the trailing (p - lead)^2 block comes from
    the products of X's trailing columns, formed once per X, times the weights: one
    matrix-vector product.  Measured on the 2-core AVX-512 benchmark machine (2026-11-24,
    chunks of 1 MiB of X, n = 1000, us per model and Gram matrix, whole against split):
    p = 9: 9.4 / 6.6, 10: 9.3 / 6.9, 12: 12.3 / 8.9, 13: 13.2 / 10.1, 15: 15.0 / 13.1, 17: 25.7
    / 18.9, 26: 53.7 / 41.3, 50: 133 / 112.  p < 8 fills less than one block either way.

    Example::

        >>> import numpy as np
        >>> lead_columns(10, np.float64), lead_columns(16, np.float64), lead_columns(10, np.float32)
        (8, 0, 0)
    """
    if reads_only_transposed(dtype) or p < LEAD_BLOCK or p % LEAD_BLOCK == 0:
        return 0
    return p // LEAD_BLOCK * LEAD_BLOCK


def remainder_products(Xt, lead):
    """(r (r + 1) / 2, n): the products X_:a * X_:b of X's trailing r = p - lead columns, a >= b,
    in row-major lower-triangle order, from ``Xt`` = X^T (p, n); times a weight vector they
    give the lower triangle of the Gram matrix's trailing block."""
    rows, cols = np.tril_indices(Xt.shape[-2] - lead)
    return Xt[..., lead + rows, :] * Xt[..., lead + cols, :]


def _assembly_index(p, lead):
    """(p, p) positions of the Gram matrix's entries in concatenate([first.ravel(), rest]):
    ``first`` (p, lead) its leading columns, ``rest`` its trailing block's lower triangle in
    row-major order (``np.tril_indices``).  With lead 0, the positions in the lower triangle
    alone (``shared_gram_operator``'s pair products)."""
    i, j = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    high, low = np.maximum(i, j), np.minimum(i, j)
    in_first = np.where(j < lead, i * lead + j, j * lead + i)  # (i, j) or its mirror (j, i)
    a, b = high - lead, low - lead
    in_rest = p * lead + a * (a + 1) // 2 + b
    return np.where(low < lead, in_first, in_rest).astype(np.int32)


def reads_only_transposed(dtype):
    """True when a small X's products in ``dtype`` read X^T alone (float32: XNNPACK's kernel for
    (X^T * w) @ (X^T)^T is the faster one there, float64's is half speed), so ``fit_many`` need
    not stage X itself."""
    return np.dtype(dtype) == np.float32


def gram_operator(X):
    """``weight -> X^T diag(weight) X`` for a fixed X (n, p); weight (n,) -> (p, p).

    Example::

        >>> import jax.numpy as jnp
        >>> X = jnp.arange(6.0).reshape(3, 2)
        >>> gram_operator(X)(jnp.ones(3)).tolist()
        [[20.0, 26.0], [26.0, 35.0]]
    """
    return Design(X).gram


#: Largest Khatri-Rao matrix (n * p (p + 1) / 2 elements) ``shared_gram_operator`` builds.
MAX_PAIR_ELEMENTS = 2**25


def shared_gram_operator(X):
    """``weight -> X^T diag(weight) X`` for an X (n, p) shared by a batch; vmap it over weights.

    Falls back to ``gram_operator`` when the Khatri-Rao rows would exceed
    ``MAX_PAIR_ELEMENTS`` (256 MiB in float64).

    Example::

        >>> import jax, jax.numpy as jnp
        >>> X = jnp.arange(6.0).reshape(3, 2)
        >>> jax.vmap(shared_gram_operator(X))(jnp.ones((4, 3)))[0].tolist()
        [[20.0, 26.0], [26.0, 35.0]]
    """
    n, p = X.shape
    rows, cols = np.tril_indices(p)  # the pairs in the order of ``_assembly_index(p, 0)``
    if n * rows.size > MAX_PAIR_ELEMENTS:
        return gram_operator(X)
    khatri_rao = X[:, rows] * X[:, cols]
    index = _assembly_index(p, 0)
    return lambda weight: (weight @ khatri_rao)[index]
