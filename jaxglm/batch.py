"""``fit_many``: fit thousands of GLMs at once, in chunks, over every visible device.

Each model is the single-model fit of :func:`jaxglm.fit` (the same traceable
core, ``fit_arrays``), batched by ``jax.vmap``.  A vmapped ``while_loop``
runs every model of a batch until the slowest is done (finished models are
frozen by a select, so their results are unchanged), so the models are fitted
in chunks of ``batch_size``: each chunk stops as soon as its own models are
done, one slow or failing model only holds up its chunk, and memory is
bounded by the inputs plus a few chunks' working sets.  On one CPU device
several threads fit chunks at once (``workers``): XLA:CPU runs a program's
loop and its single-threaded kernels (the batched Gram products are about
half of an iteration) on the calling thread, so one thread leaves a core
idle much of the time.  With several devices the models of a chunk are
split over them (``jax.shard_map``), each device running its own loop.

When X is shared by all models it is passed once, unbatched: every product
with X becomes one matrix-matrix product over all models of a chunk (see
``jaxglm.solvers.gram`` for the Hessians).
"""

import functools
import os
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._compile import jit
from ._validate import float_dtype
from .families import Gaussian, with_whole_data, without_whole_data
from ._pytree import is_concrete
from .fit import fit, fit_arrays, resolve_solver
from .solvers.gram import Design, is_large, reads_only_transposed, shared_gram_operator

# Models per chunk and device when batch_size is None, on CPU.  A per-model X: as many models as
# fill PER_MODEL_CHUNK_BYTES of X (at least MIN_PER_MODEL_CHUNK, at most MAX_PER_MODEL_CHUNK),
# so that the chunks in flight (one per worker) keep their designs in cache.  Measured on workload
# A (n = 1000, p = 10, 2-core machine, 3 workers), models/s median, interleaved runs:
# - 2026-11-24, staging a new jax array per chunk: for 8 / 12 / 16 / 24 / 32 / 48 / 64 models
#   float64 8,300 / 9,700 / 10,400 / 10,300 / 9,900 / 8,800 / 7,900 (A' at 12-48: 8,000 / 8,100 /
#   7,700 / 7,600 / 7,000); float32 at 16-48: 13,500 / 15,500 / 15,900 / 15,700.
# - later that day, with each staging buffer's array kept (cheaper chunks): float64 at
#   8 / 10 / 12 / 14 / 19: A 10,800 / 11,300 / 11,600 / 11,800 / 11,300, A' 10,000 / 10,300 /
#   10,700 / 10,700 / 10,500, and 13 against 19 A 11,400 / 10,900, A' 11,000 / 10,700; float32 at
#   20 / 26 / 32 / 39: A 17,600 / 18,000 / 17,700 / 16,800, A' 17,300 / 17,400 / 17,400 / 16,600.
# 1 MiB gives 13 models in float64, 26 in float32.  (With one thread, 2026-11-23, 48 was best:
# 6,100-6,300 against 5,200-5,600 at 32.)  A shared X: 96 models (one larger W @ K product per
# iteration; B with 3 workers at 32 / 48 / 64 / 96: 18,500 / 19,900 / 19,500 / 19,800; with one
# thread 32 / 64 / 96 / 128 gave 10,700 / 13,100 / 15,000-16,400 / 9,800).
# Small chunks also keep one slow model from holding up many others.
PER_MODEL_CHUNK_BYTES = 2**20
MIN_PER_MODEL_CHUNK, MAX_PER_MODEL_CHUNK = 4, 512
SHARED_X_CHUNK = 96
DEFAULT_BATCH_SIZE_ACCELERATOR = 1024
#: Most CPU threads ``fit_many`` runs chunks on by default (see ``_worker_count``).
MAX_DEFAULT_WORKERS = 8
AXIS = "models"


def fit_many(X, Y, family=None, *, weights=None, offset=None, solver="irls",
             max_iter=None, tol=1e-8, l2=0.0, batch_size=None, progress=False, devices=None,
             workers=None):
    """Fit B GLMs of the same shapes: model b is ``fit(X[b], Y[b], family, ...)``.

    Args:
        X: (n, p) design shared by all models, or (B, n, p) one per model.
        Y: (B, n) responses, one row per model.
        family: a family (default ``Gaussian()``); a numeric parameter given as
            a (B,) array (``NegativeBinomial(alpha=alphas)``) is one per model.
        weights, offset: None, (n,) shared, or (B, n) per model.
        solver, max_iter, tol, l2: as :func:`jaxglm.fit` (``l2`` shared; ``max_iter``
            defaults to 50 for IRLS/Newton, more for gradient solvers).
        batch_size: models fitted at once (default per CPU device: with a
            per-model X as many as fill 1 MiB of X, 13 for n = 1000, p = 10 in
            float64; 96 with a shared X; 1024 per accelerator); bounds memory
            at about the inputs plus ``workers`` chunks' working sets (a few
            copies of an (n, p) design per model).  The chunk's shape is what
            compiles: a call with fewer models than a chunk compiles a smaller
            one, so warm up on as many models as a chunk holds, or on all.
        progress: show a progress bar on stderr (tqdm's when installed).
        devices: devices to spread the models over (default all of the
            default backend's devices); each chunk is split evenly.
        workers: with one device, the threads that each fit a chunk at a
            time (default on a CPU one more than the cores this process may
            use, at most ``MAX_DEFAULT_WORKERS``; on an accelerator 1).  XLA:CPU
            runs a program's loop and its single-threaded kernels (the batched
            Gram products) on the thread that called it, so chunks fitted from
            several threads keep every core busy; memory grows to about
            ``workers`` chunks' working sets.  With several devices one thread
            dispatches the chunks.

    Returns:
        ``GLMResult`` whose fields have a leading axis B.  Never raises for a
        bad model (non-finite data, y out of range, separation, no
        convergence): that model's ``status`` says so and the other models'
        results are those they get when fitted alone.  Shape mistakes and
        invalid options raise ``ValueError``.

    Under a user's ``jit``, ``grad`` or ``vmap`` (traced inputs) it is one
    ``vmap`` of :func:`jaxglm.fit` without chunking or devices, so it composes
    and differentiates exactly like ``fit``.

    Example::

        >>> import numpy as np, jaxglm as jg
        >>> X = np.column_stack([np.ones(6), np.arange(6.0)])
        >>> Y = np.array([[1.0, 0, 2, 4, 5, 7], [0.0, 1, 1, 2, 2, 3]])
        >>> res = jg.fit_many(X, Y, jg.Poisson())
        >>> res.coef.shape
        (2, 2)
    """
    family = Gaussian() if family is None else family
    max_iter = resolve_solver(solver, max_iter)
    if not is_concrete(X, Y, weights, offset, l2, family):
        return _fit_many_traced(X, Y, family, weights, offset, l2, solver, max_iter, tol)
    _check_options(max_iter, tol, batch_size, workers)
    arrays, shared, n_models = _prepare_many(X, Y, weights, offset, l2)
    # Count or 0/1 data (checked here, on the host): the fit compiles its table lookups alone.
    family = with_whole_data(family, arrays[1], arrays[2])
    fam_leaves, fam_tree = jax.tree_util.tree_flatten(family)
    fam_leaves = [jnp.asarray(leaf) for leaf in fam_leaves]
    fam_batched = tuple(_family_leaf_batched(leaf, n_models) for leaf in fam_leaves)
    devices = tuple(jax.devices() if devices is None else devices)
    chunk = _chunk_size(batch_size, n_models, devices, arrays[0])
    # A small per-model X goes in laid out as X^T, and unless that is all the fit reads also as X.
    transposed = not shared[0] and not is_large(arrays[0].shape)
    run = _chunk_runner(solver, offset is not None, shared, transposed, fam_tree, fam_batched, devices)
    shared_args = [jnp.asarray(a) if s else None for a, s in zip(arrays, shared)]
    staged = [not s for s in shared]  # per-model arrays, copied chunk by chunk (None where not)
    staged[0] = staged[0] and not (transposed and reads_only_transposed(arrays[0].dtype))

    signature = []

    def fit_chunk(staging, number):
        """Stage chunk ``number``'s rows and dispatch its fit (returns without waiting)."""
        start = number * chunk
        args = [staging.put(slot, number, x, start, chunk) if stage else a
                for slot, (a, x, stage) in enumerate(zip(shared_args, arrays, staged))]
        leaves = [staging.put(("family", i), number, leaf, start, chunk) if b else leaf
                  for i, (leaf, b) in enumerate(zip(fam_leaves, fam_batched))]
        Xt = staging.put("Xt", number, arrays[0], start, chunk, transpose=True) if transposed else None
        if number == 0:  # every chunk has the same shapes, so the same signature
            signature.append(_signature(*args, leaves, Xt))
        return run(*args, leaves, max_iter, tol, Xt)

    n_chunks = -(-n_models // chunk)
    n_workers = min(_worker_count(workers, devices), n_chunks)
    bar = _Progress(n_models, progress)
    sharding = _input_sharding(devices)
    results = _HostResults(n_chunks, chunk)
    if n_workers == 1:
        _fit_chunks_pipelined(fit_chunk, n_chunks, chunk, sharding, bar, results.add)
    else:
        _fit_chunks_threaded(fit_chunk, n_chunks, chunk, sharding, bar, n_workers, results.add)
    bar.finish()
    result = run.unpack(results.groups, n_models, signature[0])
    return result._replace(family=without_whole_data(result.family))


def _fit_chunks_pipelined(fit_chunk, n_chunks, chunk, sharding, bar, finished):
    """Every chunk dispatched from this thread, the next staged while the last one runs;
    ``finished(number, piece)`` takes each chunk's outputs once it is done."""
    staging = _Staging(sharding, depth=3)
    pieces = {}
    for number in range(n_chunks):
        pieces[number] = fit_chunk(staging, number)
        if number > 0:  # at most two chunks in flight: memory stays bounded, dispatch overlaps
            finished(number - 1, jax.block_until_ready(pieces.pop(number - 1)))
            bar.update(number * chunk)
    finished(n_chunks - 1, jax.block_until_ready(pieces.pop(n_chunks - 1)))


def _fit_chunks_threaded(fit_chunk, n_chunks, chunk, sharding, bar, n_workers, finished):
    """Chunks fitted by ``n_workers`` threads, worker k taking chunk k first and then, as each
    of its chunks finishes, the next chunk no worker has taken; the worker hands the finished
    chunk's outputs to ``finished(number, piece)``.

    Each worker stages a chunk in its own buffers, runs it and waits for it, so at most
    ``n_workers`` chunks are in flight.  Taking chunks as they come (rather than every
    ``n_workers``-th) keeps the workers finishing together when chunks take different times (a
    chunk runs as many iterations as its slowest model).  The first chunk's call compiles the
    program; the other workers start once it has (one compilation, not one per thread).  After
    an exception in a worker the others stop at their next chunk, and it is raised here; so do
    they when this thread is interrupted (KeyboardInterrupt) while it waits.
    """
    compiled = threading.Event()
    lock = threading.Lock()
    done = [0]
    errors = []
    unclaimed = iter(range(n_workers, n_chunks))  # taken under ``lock``

    def work(first):
        try:
            staging = _Staging(sharding, depth=1)
            number = first
            while number is not None:
                if number != 0:
                    compiled.wait()
                if errors:
                    return
                try:
                    piece = fit_chunk(staging, number)
                finally:
                    if number == 0:
                        compiled.set()
                finished(number, jax.block_until_ready(piece))
                with lock:
                    done[0] += chunk
                    bar.update(done[0])
                    number = next(unclaimed, None)
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(error)
            compiled.set()

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(n_workers)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException as interrupt:  # KeyboardInterrupt: the workers stop at their next chunk
        errors.append(interrupt)
        raise
    if errors:
        raise errors[0]


def _worker_count(workers, devices):
    """Threads to fit chunks on: ``workers`` if given (1 with several devices); by default on one
    CPU device one more than the cores this process may use (at most ``MAX_DEFAULT_WORKERS``),
    otherwise 1."""
    if workers is not None:
        return int(workers) if len(devices) == 1 else 1
    if len(devices) != 1 or devices[0].platform != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # One more thread than cores: a worker staging its next chunk on the host, or waiting for
    # XLA's shared thread pool, leaves a core another worker can use.  Measured on the 2-core
    # machine (2026-11-24, models/s median, workers 1 / 2 / 3 / 4): A 7,600 / 8,200-8,400 /
    # 8,900-9,200 / 9,000; A' 6,300 / 7,100 / 7,200 / 7,300; B 17,100 / 20,400 / 20,900 /
    # 20,700; float32 A 12,100 / 17,900 / 18,200 / 17,300.
    return max(1, min(cores + 1, MAX_DEFAULT_WORKERS))


def _fit_many_traced(X, Y, family, weights, offset, l2, solver, max_iter, tol):
    """Inside a user's ``jit``/``grad``/``vmap``: one ``vmap`` of ``fit`` (no chunks, no host work).

    Chunking, devices and the progress bar need concrete arrays on the host;
    traced, the whole batch is one vmapped fit, differentiable like ``fit``.
    """
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    if Y.ndim != 2 or X.ndim not in (2, 3):
        raise ValueError(f"fit_many needs X (n, p) or (B, n, p) and Y (B, n), got {X.shape} and {Y.shape}")
    axis = lambda a, shared_ndim: None if a is None or jnp.ndim(a) == shared_ndim else 0
    leaves, tree = jax.tree_util.tree_flatten(family)
    leaf_axes = [None if jnp.ndim(leaf) == 0 else 0 for leaf in leaves]

    def one(x, y, w, off, fam_leaves):
        fam = jax.tree_util.tree_unflatten(tree, fam_leaves)
        return fit(x, y, fam, weights=w, offset=off, solver=solver, max_iter=max_iter, tol=tol, l2=l2)

    in_axes = (axis(X, 2), 0, axis(weights, 1), axis(offset, 1), leaf_axes)
    return jax.vmap(one, in_axes=in_axes)(X, Y, weights, offset, leaves)


def _check_options(max_iter, tol, batch_size, workers=None):
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not float(tol) > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")


def _prepare_many(X, Y, weights, offset, l2):
    """Host arrays (X, Y, weights, offset, l2) in one float dtype, and which are shared."""
    X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
    Y = np.asarray(Y.to_numpy() if hasattr(Y, "to_numpy") else Y)
    dtype = np.dtype(float_dtype(X, Y))
    if X.ndim not in (2, 3):
        raise ValueError(f"X must be (n, p) shared or (B, n, p) per model, got shape {X.shape}")
    if Y.ndim != 2:
        raise ValueError(f"Y must be (B, n), one row per model, got shape {Y.shape}")
    n_models, n = Y.shape
    p = X.shape[-1]
    if X.shape[-2] != n or (X.ndim == 3 and X.shape[0] != n_models):
        want = f"({n}, p) or ({n_models}, {n}, p)"
        raise ValueError(f"X must have shape {want} to match Y {Y.shape}, got {X.shape}")
    if n_models == 0 or n == 0 or p == 0:
        raise ValueError(f"need at least one model, observation and column, got X {X.shape}, Y {Y.shape}")
    weights = np.ones(n, dtype) if weights is None else weights
    offset = np.zeros(n, dtype) if offset is None else offset
    out = [X.astype(dtype, copy=False), Y.astype(dtype, copy=False)]
    for name, value in (("weights", weights), ("offset", offset)):
        value = np.asarray(value, dtype)
        if value.shape not in ((n,), (n_models, n)):
            raise ValueError(f"{name} must be ({n},) shared or ({n_models}, {n}) per model, got {value.shape}")
        out.append(value)
    l2 = np.asarray(l2, dtype)
    if l2.ndim > 1 or (l2.ndim == 1 and l2.shape[0] != p):
        raise ValueError(f"l2 must be a scalar or have one value per coefficient ({p},), got shape {l2.shape}")
    out.append(np.broadcast_to(l2, (p,)))
    shared = (X.ndim == 2, False, out[2].ndim == 1, out[3].ndim == 1, True)
    return out, shared, n_models


def _family_leaf_batched(leaf, n_models):
    if leaf.ndim == 0:
        return False
    if leaf.ndim == 1 and leaf.shape[0] == n_models:
        return True
    raise ValueError(f"a family parameter must be a scalar or have one value per model "
                     f"({n_models},), got shape {leaf.shape}")


def _chunk_size(batch_size, n_models, devices, X):
    """Models per chunk: a multiple of the device count, at most B rounded up (``X``: the design,
    (n, p) shared or (B, n, p), for the default on CPU)."""
    n_devices = len(devices)
    if batch_size is None:
        batch_size = _default_chunk(devices[0].platform, X) * n_devices
    size = min(n_models, int(batch_size))
    return -(-size // n_devices) * n_devices


def _default_chunk(platform, X):
    """Models per chunk and device by default (see ``PER_MODEL_CHUNK_BYTES``)."""
    if platform != "cpu":
        return DEFAULT_BATCH_SIZE_ACCELERATOR
    if X.ndim == 2:
        return SHARED_X_CHUNK
    per_model = X.shape[1] * X.shape[2] * X.dtype.itemsize
    return int(np.clip(PER_MODEL_CHUNK_BYTES // per_model, MIN_PER_MODEL_CHUNK, MAX_PER_MODEL_CHUNK))


class _Staging:
    """Chunks copied into reused, 64-byte-aligned host buffers that XLA reads in place.

    A per-model X is also staged transposed, (size, p, n), for the fit's products through
    X^T (``jaxglm.solvers.gram.Design``): numpy's transposing copy costs ~6 us per model of
    workload A more than the plain copy, and saves XLA a transposing copy of X (13-17 us of
    CPU per model in a chunk of 48) plus a product that read X strided.  A float32 fit reads
    X^T alone (its Gram matrix is (X^T * w) @ (X^T)^T), so a float32 X is staged only as X^T.

    ``jnp.asarray`` of a numpy slice copies it into newly allocated memory, and
    the first touch of new pages is slow: on the 2-core benchmark machine a
    2.5 MB chunk of X took 1-3 ms to transfer, 40-90 us per model, as long as
    fitting it.  Copying it into one of ``depth`` already-touched aligned
    buffers takes about 0.2 ms, and ``jax.device_put(..., may_alias=True)``
    hands that memory to XLA:CPU without another copy (accelerators copy it to
    the device as usual).  A buffer is reused only after the chunk that read it
    has finished: ``depth`` 3 for a caller with at most two chunks in flight, 1 for
    one that waits for each chunk before staging the next.

    Where XLA reads a buffer in place (one CPU device), the jax array made of it
    is made once and handed out again for every chunk copied into that buffer:
    ``jax.device_put`` costs ~30 us of Python per array, and from three worker
    threads contending for the GIL it cost more than the copies (workload A',
    2026-11-24: 9,100-9,600 against 10,900 models/s with the arrays
    kept).  The array's contents change with the buffer's, which is safe for the
    same reason reusing the buffer is: a chunk is staged there only once the
    one before it has finished reading it.
    """

    def __init__(self, sharding, depth):
        self.sharding = sharding
        self.depth = depth
        self.buffers = {}  # (slot, number % depth) -> [host buffer, jax array aliasing it or None]

    def put(self, slot, number, array, start, size, transpose=False):
        """Rows [start, start + size) of ``array`` (padded by repeating its last row) as a jax array;
        ``transpose``: each row (n, p) of a 3-d array laid out as (p, n)."""
        part = np.asarray(array[start:start + size])
        if transpose:
            part = part.transpose(0, 2, 1)
        key = (slot, number % self.depth)
        entry = self.buffers.get(key)
        if entry is None:
            entry = self.buffers[key] = [_aligned_empty((size,) + part.shape[1:], part.dtype), None]
        buffer, kept = entry
        buffer[:part.shape[0]] = part
        buffer[part.shape[0]:] = part[-1]
        if kept is not None:
            return kept
        staged = jax.device_put(buffer, self.sharding, may_alias=True)
        if _reads_in_place(staged, buffer):
            entry[1] = staged
        return staged


def _reads_in_place(staged, buffer):
    """True when the jax array ``staged`` is ``buffer``'s own memory (one CPU device, no copy)."""
    shards = staged.addressable_shards
    if len(shards) != 1 or shards[0].device.platform != "cpu":
        return False
    try:
        return shards[0].data.unsafe_buffer_pointer() == buffer.ctypes.data
    except Exception:  # noqa: BLE001 - a backend that cannot tell: copy every time
        return False


def _aligned_empty(shape, dtype, alignment=64):
    """An uninitialised numpy array whose data starts on an ``alignment``-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def _input_sharding(devices):
    """Where a chunk's per-model inputs go: the one device, or split over the models axis."""
    if len(devices) == 1:
        return jax.sharding.SingleDeviceSharding(devices[0])
    return NamedSharding(Mesh(np.array(devices), (AXIS,)), PartitionSpec(AXIS))


@functools.lru_cache(maxsize=64)
def _chunk_runner(solver, has_offset, shared, transposed, fam_tree, fam_batched, devices):
    """The compiled chunk fit, a ``_ChunkRunner`` (cached so a second call with the same shapes
    reuses it).

    Its arguments: the five arrays of ``_prepare_many`` (a chunk's rows of those not
    shared; X None when staged only as X^T), the family's leaves, max_iter, tol, and X^T per
    model (``transposed``) or None.
    """

    def one(X, y, weights, offset, l2, leaves, max_iter, tol, Xt, gram=None):
        family = jax.tree_util.tree_unflatten(fam_tree, leaves)
        design = Design(X, gram, Xt)  # X None (staged as X^T alone): X is X^T's transpose
        # Concrete inputs: nothing differentiates this, so no implicit-derivative rules.
        return fit_arrays(design.X, y, family, weights, offset, l2, max_iter, tol, solver=solver,
                          has_offset=has_offset, design=design, differentiable=False)

    axes = (tuple(None if s else 0 for s in shared)
            + ([0 if b else None for b in fam_batched], None, None, 0 if transposed else None))

    def batched(X, *rest):
        # X shared: its Khatri-Rao rows once per chunk, every Gram matrix one product W @ K.
        gram = shared_gram_operator(X) if shared[0] else None
        return jax.vmap(functools.partial(one, gram=gram), in_axes=axes)(X, *rest)
    return _ChunkRunner(batched, axes, devices)


class _ChunkRunner:
    """A chunk's fit compiled to return its ``GLMResult`` packed: one (chunk, k) array per dtype.

    The result has about twenty leaves, and reading a jax array into numpy costs a few us of
    Python each: for 2,000 models in 154 chunks (workload A), 2,900 of them took 9-10 ms of
    the calling thread after the last chunk, against ~200 ms for the whole call.  Packed,
    it is three per chunk (floats, int32, bool).  ``unpack`` takes the chunks' outputs back
    to one ``GLMResult``; the layout (tree, and where each leaf lies in which array) is
    recorded when the fit is traced, for the shapes and dtypes of its arrays.

    Calling it returns the packed outputs without waiting for the fit.
    """

    def __init__(self, batched, axes, devices):
        self.layouts = {}  # signature of the arrays -> (tree, names, [(group, offset, shape)])

        def packed(X, y, weights, offset, l2, leaves, max_iter, tol, Xt):
            result = batched(X, y, weights, offset, l2, leaves, max_iter, tol, Xt)
            outputs, layout = _pack(result)
            self.layouts[_signature(X, y, weights, offset, l2, leaves, Xt)] = layout
            return outputs

        if len(devices) == 1:
            self.compiled = jit(packed)
        else:
            mesh = Mesh(np.array(devices), (AXIS,))
            spec = lambda axis: PartitionSpec() if axis is None else PartitionSpec(AXIS)
            in_specs = (tuple(spec(a) for a in axes[:5])
                        + ([spec(a) for a in axes[5]], PartitionSpec(), PartitionSpec(), spec(axes[8])))
            self.compiled = jit(jax.shard_map(packed, mesh=mesh, in_specs=in_specs,
                                              out_specs=PartitionSpec(AXIS), check_vma=False))

    def __call__(self, X, y, weights, offset, l2, leaves, max_iter, tol, Xt):
        return self.compiled(X, y, weights, offset, l2, leaves, max_iter, tol, Xt)

    def unpack(self, groups, n_models, signature):
        """One ``GLMResult`` with leading axis B = ``n_models`` from the chunks' packed outputs
        gathered on the host (``_HostResults.groups``: one array per dtype, chunks in order,
        padding after the first ``n_models`` rows); ``signature``: ``_signature`` of a chunk's
        arrays.  Each leaf is copied into aligned memory that XLA:CPU then reads in place, and
        all go to the device in one call (19 calls, one per leaf, took 0.3-1 ms longer)."""
        tree, names, places = self.layouts[signature]
        leaves = []
        for group, start, shape in places:
            size = int(np.prod(shape, dtype=int))
            leaf = _aligned_empty((n_models,) + shape, groups[group].dtype)
            leaf[...] = groups[group][:n_models, start:start + size].reshape((n_models,) + shape)
            leaves.append(leaf)
        return jax.tree_util.tree_unflatten(tree, jax.device_put(leaves, may_alias=True))


class _HostResults:
    """The chunks' packed outputs, copied into one host array per dtype as each chunk finishes.

    ``add`` runs in the worker that waited for the chunk, while other chunks run, rather than
    for every chunk in the calling thread after the last one (workload A', 154 chunks: ~1.5 ms
    of reading and concatenating that left a core idle at the end of a ~160 ms call).
    """

    def __init__(self, n_chunks, chunk):
        self.rows, self.chunk = n_chunks * chunk, chunk
        self.groups = None  # made when the first chunk finishes: its outputs give dtypes and widths
        self._lock = threading.Lock()

    def add(self, number, piece):
        """Copy chunk ``number``'s packed outputs ``piece`` into its rows."""
        arrays = [np.asarray(a) for a in piece]
        with self._lock:
            if self.groups is None:
                self.groups = [np.empty((self.rows,) + a.shape[1:], a.dtype) for a in arrays]
        start = number * self.chunk
        for group, array in zip(self.groups, arrays):
            group[start:start + array.shape[0]] = array


def _pack(result):
    """(outputs, layout): ``result``'s leaves (each with a leading models axis) flattened per
    model and concatenated by dtype, one (chunk, k) array per dtype; layout: (tree, dtype names,
    [(output index, column, shape after the models axis)] per leaf)."""
    leaves, tree = jax.tree_util.tree_flatten(result)
    names = sorted({jnp.dtype(leaf.dtype).name for leaf in leaves})
    columns = {name: [] for name in names}
    width = dict.fromkeys(names, 0)  # columns taken so far in each dtype's array
    places = []
    for leaf in leaves:
        name = jnp.dtype(leaf.dtype).name
        places.append((names.index(name), width[name], tuple(leaf.shape[1:])))
        columns[name].append(leaf.reshape(leaf.shape[0], -1))
        width[name] += columns[name][-1].shape[1]
    outputs = tuple(jnp.concatenate(columns[name], axis=1) for name in names)
    return outputs, (tree, tuple(names), tuple(places))


def _signature(*arrays):
    """The dtypes, and shapes after the first axis, of the array leaves of ``arrays`` (traced or
    not): what the layout of a chunk's packed result depends on (with the family's tree, fixed
    per runner).  Not the first axis: with several devices the fit is traced on each one's
    share of the chunk."""
    leaves, tree = jax.tree_util.tree_flatten(arrays)
    return (str(tree),) + tuple((tuple(leaf.shape[1:]), jnp.dtype(leaf.dtype).name) for leaf in leaves)


class _Progress:
    """A progress bar on stderr: tqdm's when installed, else a plain one."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.done = total, enabled, 0
        self.start = time.perf_counter()
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, unit="model", desc="fit_many")
            except ImportError:
                pass

    def update(self, done):
        """Show ``done`` models finished."""
        if self.enabled:
            self._show(min(done, self.total))

    def finish(self):
        if not self.enabled:
            return
        self._show(self.total)
        if self.bar is not None:
            self.bar.close()
        else:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _show(self, done):
        if self.bar is not None:
            self.bar.update(done - self.done)
        else:
            width = 30
            filled = int(width * done / self.total)
            elapsed = time.perf_counter() - self.start
            sys.stderr.write(f"\rfit_many [{'#' * filled}{'.' * (width - filled)}] "
                             f"{done}/{self.total} models {elapsed:.1f}s")
            sys.stderr.flush()
        self.done = done
