"""Peak memory of fit_many against batch_size (workload A: separate X, Poisson).

Usage::

    .venv/bin/python bench/memory.py [--models 2000] [--sizes 32,128,512,2000]

Each batch size runs in a fresh subprocess: it builds the inputs, compiles
(a first call on the first chunk's worth of models), resets the kernel's
peak-RSS counter (``/proc/self/clear_refs``, Linux), fits all models and
reports the peak resident memory above the resident memory before the fit.
That excess is fit_many's working set; the inputs are reported apart.
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import sys, json
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
sys.path.insert(0, "bench")
from bench import simulate
import jaxglm as jg

models, size = int(sys.argv[1]), int(sys.argv[2])
X, Y, _ = simulate("A", models, 1000, 10)
jax.block_until_ready(jg.fit_many(X[:size], Y[:size], jg.Poisson(), batch_size=size).coef)

def rss(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field)) / 1024

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = rss("VmRSS:")
res = jg.fit_many(X, Y, jg.Poisson(), batch_size=size)
jax.block_until_ready(res.coef)
peak = rss("VmHWM:")
print(json.dumps(dict(batch_size=size, models=models, inputs_mib=(X.nbytes + Y.nbytes) / 2**20,
                      rss_before_mib=before, peak_mib=peak, working_set_mib=peak - before,
                      result_mib=sum(np.asarray(l).nbytes for l in jax.tree_util.tree_leaves(res)) / 2**20)))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--sizes", default="32,128,512,2000")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.models), str(size)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"batch_size {r['batch_size']:5d}: inputs {r['inputs_mib']:7.1f} MiB, "
              f"working set (peak - before) {r['working_set_mib']:7.1f} MiB, "
              f"result {r['result_mib']:5.1f} MiB, peak RSS {r['peak_mib']:7.1f} MiB", flush=True)
    return rows


if __name__ == "__main__":
    main()
