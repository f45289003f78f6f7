"""fit_many spreads models over devices: 4 fake CPU devices in a subprocess.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before JAX
starts, hence the subprocess.  The sharded fit, with a shared and with a per-model X, must equal
statsmodels, and each chunk's output must live on all 4 devices.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    import statsmodels.api as sm
    import jaxglm as jg
    from jaxglm import batch

    assert len(jax.devices()) == 4, jax.devices()
    shardings = []
    add = batch._HostResults.add
    def spy(self, number, piece):  # every finished chunk's outputs pass through here
        shardings.append(piece[0].sharding)
        return add(self, number, piece)
    batch._HostResults.add = spy

    rng = np.random.default_rng(5)
    B, n = 6, 40
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Y = rng.poisson(np.exp(X @ np.array([0.5, 0.3]) + rng.normal(0, 0.2, size=(B, 1)))).astype(float)
    many = jg.fit_many(X, Y, jg.Poisson(), batch_size=6)      # one chunk of 8 (6 + 2 padding)
    assert len(shardings) == 1 and len(shardings[0].device_set) == 4, shardings
    assert np.all(np.asarray(many.status) == 0)
    for b in range(B):
        ref = sm.GLM(Y[b], X, family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(many.coef[b], ref.params, rtol=1e-6)
        np.testing.assert_allclose(many.std_err[b], ref.bse, rtol=1e-6)

    # A per-model X: each device also gets its models' X^T, staged on the host.
    Xs = np.stack([np.column_stack([np.ones(n), rng.normal(size=n)]) for _ in range(B)])
    Ys = rng.poisson(np.exp(Xs @ np.array([0.5, 0.3]))).astype(float)
    per_model = jg.fit_many(Xs, Ys, jg.Poisson(), batch_size=6)
    assert len(shardings) == 2 and len(shardings[1].device_set) == 4, shardings
    for b in range(B):
        ref = sm.GLM(Ys[b], Xs[b], family=sm.families.Poisson()).fit(tol=1e-12)
        np.testing.assert_allclose(per_model.coef[b], ref.params, rtol=1e-6)
        np.testing.assert_allclose(per_model.std_err[b], ref.bse, rtol=1e-6)

    # A float32 per-model X goes to the devices as X^T alone.
    single = jg.fit_many(Xs.astype(np.float32), Ys.astype(np.float32), jg.Poisson(), batch_size=6)
    assert len(shardings) == 3 and len(shardings[2].device_set) == 4, shardings
    assert single.coef.dtype == np.float32
    np.testing.assert_allclose(single.coef, per_model.coef, rtol=0, atol=1e-5)
    print("OK")
""")


def test_fit_many_shards_over_four_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK" in out.stdout
