"""The main demonstration: ``python -m jaxglm.demo [--models B] [--seed S]``.

The demo (an application, not the library) enables float64 unless
``--float32`` is given.

1. One model, R-style: a Poisson claims-frequency model with an exposure
   offset, fitted on simulated data, printed as R's ``summary.glm`` table.
2. Many models at once: a simulation study of B logistic regressions fitted in
   one compiled batch, reporting time, statuses, bias and the coverage of 95%
   Wald intervals.

Uses only the runtime dependencies (jax, numpy).
"""

import argparse
import time

import jax
import numpy as np

import jaxglm as jg


def simulate_claims(rng, n=5000):
    """Claims counts ~ Poisson(exposure * exp(X beta)) with an intercept, age, urban and a vehicle score."""
    age = rng.uniform(18, 80, n)
    urban = rng.binomial(1, 0.4, n).astype(float)
    vehicle = rng.normal(size=n)
    exposure = rng.uniform(0.2, 1.0, n)
    X = np.column_stack([np.ones(n), (age - 45) / 15, urban, vehicle])
    beta = np.array([-2.0, -0.25, 0.4, 0.15])
    y = rng.poisson(exposure * np.exp(X @ beta)).astype(float)
    return X, y, np.log(exposure), beta


def one_model(rng):
    X, y, offset, beta = simulate_claims(rng)
    res = jg.fit(X, y, jg.Poisson(), offset=offset)
    names = ["(Intercept)", "age_std", "urban", "vehicle"]
    print("== One model: Poisson claims frequency with log(exposure) offset (n = %d)" % len(y))
    print(jg.summary(res, names=names))
    print("\ntrue coefficients:   ", np.round(beta, 3))
    print("95% Wald intervals:\n", np.round(np.asarray(res.conf_int()), 3))


def many_models(rng, n_models, n=400):
    beta = np.array([0.5, -1.0, 0.75, 0.0])
    X = np.concatenate([np.ones((n_models, n, 1)), rng.normal(size=(n_models, n, 3))], axis=-1)
    prob = 1 / (1 + np.exp(-(X @ beta)))
    Y = rng.binomial(1, prob).astype(float)
    start = time.perf_counter()
    jax.block_until_ready(jg.fit_many(X, Y, jg.Binomial()))   # the first call compiles the chunk fit
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    res = jax.block_until_ready(jg.fit_many(X, Y, jg.Binomial()))
    run_s = time.perf_counter() - start
    compile_s = first_s - run_s
    ok = np.asarray(res.converged)
    coef = np.asarray(res.coef)[ok]
    ci = np.asarray(res.conf_int())[ok]
    covered = (ci[..., 0] <= beta) & (beta <= ci[..., 1])
    print(f"\n== Many models: {n_models} logistic regressions (n = {n}, p = 4) in one jg.fit_many call")
    print(f"compile {compile_s:.2f} s (first call minus second); fit {run_s:.2f} s: {n_models / run_s:,.0f} models/s")
    print("statuses:", {jg.Status(c).name: int(k) for c, k in zip(*np.unique(np.asarray(res.status), return_counts=True))})
    print("true coefficients:     ", beta)
    print("mean estimate:         ", np.round(coef.mean(0), 4))
    print("bias (Monte Carlo se): ", " ".join(f"{b:+.4f} ({s:.4f})" for b, s in
                                              zip(coef.mean(0) - beta, coef.std(0) / np.sqrt(len(coef)))))
    print("95% CI coverage:       ", np.round(covered.mean(0), 3))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=2000, help="number of models in the batch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--float32", action="store_true", help="compute in float32 (default: float64)")
    args = parser.parse_args(argv)
    # An application's choice, made here in the demo: the library never sets it.
    jax.config.update("jax_enable_x64", not args.float32)
    rng = np.random.default_rng(args.seed)
    print(f"jaxglm {jg.__version__} on {jax.devices()[0].platform}, dtype {jax.numpy.zeros(1).dtype}")
    one_model(rng)
    many_models(rng, args.models)


if __name__ == "__main__":
    main()
