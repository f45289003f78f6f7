"""The differentiation examples run at CI size (``--small``) and reach their stated conclusions."""

import importlib.util
import pathlib

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_influence_jackknife_matches_leave_one_out(capsys):
    corr, max_diff = load("influence").main(["--small"])
    out = capsys.readouterr().out
    assert "infinitesimal jackknife" in out and "leave-one-out refits" in out
    # First-order approximation: the neglected term is O(1/n^2) per coefficient change of O(1/n).
    assert corr > 0.999
    assert max_diff < 1e-2


def test_tune_l2_gradient_descent_reaches_grid_optimum(capsys):
    s_gd, dev_gd, s_grid, dev_grid = load("tune_l2").main(["--small"])
    out = capsys.readouterr().out
    assert "grid search" in out and "gradient descent" in out
    # The descent ends within one grid spacing (0.25) of the grid's best log l2, at a held-out
    # deviance no worse than the grid's (up to the grid's resolution).
    assert abs(s_gd - s_grid) < 0.25
    assert dev_gd <= dev_grid + 1e-3 * abs(dev_grid)
    unpenalised = float(out.split("no penalty:")[1].split("deviance")[1].split()[0])
    assert dev_gd < unpenalised
    assert np.isfinite(dev_gd)
