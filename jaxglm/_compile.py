"""``jit``: ``jax.jit`` for jaxglm's own compiled entry points, with options that compile faster.

A fit is a few hundred small XLA kernels, and on CPU compiling them costs far
more than running them once: 2.5 s against 0.3 s for 2,000 models of workload
A (``bench/RESULTS.md``).  ``COMPILER_OPTIONS`` are per-executable XLA options
(``jax.jit(..., compiler_options=...)``), not global JAX configuration: they
apply to the executables jaxglm compiles itself (``fit``, ``fit_many``'s
chunks, ``mle``, ``fit_ml``) and to nothing else in the user's program.  JAX
accepts them only on a top-level call: inside a user's ``jit``, ``vmap`` or
``grad`` jaxglm's functions are plain ``jax.jit``, compiled as part of the
user's program.

``xla_cpu_use_fusion_emitters=False``: XLA:CPU generates the element-wise
kernels with its older emitter, which compiles each kernel in about 60% of the
time.  Measured on the 2-core benchmark machine (float64, 2026-11-24): the
compile part of ``fit_many``'s first call fell from 2.4-2.7 s to 1.9 s on
workload A, 2.8-3.0 to 2.1 on A' and 2.7-3.0 to 2.0 on B; one ``fit`` of
n = 100, p = 3 from 1.2-1.3 s to 0.8-1.2 s.  Run time: the same on A, A' (with
the X^T that ``fit_many`` stages) and C; on B (shared X) ``fit_many`` ran 0-10%
slower in interleaved and separate-process runs, though its chunk executable
alone, timed the same way, was not slower.  Compile time dominates a call of a
few thousand models, so the options shorten every such call; a B call of over
~100,000 models may run longer in all.  The option names XLA:CPU only
(not tried on a GPU: none was lent).  A backend or an XLA version that refuses
it gets plain ``jax.jit``, from then on.

Example::

    >>> import jax.numpy as jnp
    >>> double = jit(lambda x: 2 * x)
    >>> double(jnp.arange(3.0)).tolist()
    [0.0, 2.0, 4.0]
"""

import inspect

import jax

try:  # JAX's own test for "no trace in progress" (private: without it the options are never used)
    from jax._src.core import trace_state_clean as _at_top_level
except ImportError:  # pragma: no cover
    def _at_top_level():
        return False

#: XLA options for jaxglm's executables (see the module docstring for the measurements).
COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

#: False once XLA has refused ``COMPILER_OPTIONS``, or when jax.jit takes no compiler_options.
options_supported = "compiler_options" in inspect.signature(jax.jit).parameters


class jit:
    """``jax.jit(fun, **kwargs)``, compiled with ``COMPILER_OPTIONS`` when called at top level
    and XLA accepts them.  Attributes (``lower``, ``trace``, ``_cache_size``) are those of the
    jitted function a top-level call uses."""

    def __init__(self, fun, **kwargs):
        self._plain = jax.jit(fun, **kwargs)
        self._fast = jax.jit(fun, compiler_options=COMPILER_OPTIONS, **kwargs) if options_supported else None
        self.__wrapped__ = fun
        self.__doc__ = fun.__doc__

    def _options_usable(self):
        return self._fast is not None and options_supported

    def _top_level(self):
        return self._fast if self._options_usable() else self._plain

    def __call__(self, *args, **kwargs):
        global options_supported
        if self._options_usable() and _at_top_level():
            try:
                return self._fast(*args, **kwargs)
            except jax.errors.JaxRuntimeError as error:
                if "compile option" not in str(error):
                    raise
                options_supported = False
        return self._plain(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._top_level(), name)
