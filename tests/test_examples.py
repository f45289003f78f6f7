"""Run each worked example at its small (--small) setting, in-process, so the examples cannot rot.

The examples compile several programs each; all but the cheapest are marked
slow (run them with ``pytest -m slow tests/test_examples.py``).
"""

import pathlib
import runpy
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run_example(name, monkeypatch, capsys, *extra):
    monkeypatch.setattr(sys, "argv", [name, "--small", *extra])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def test_mle_hessians(monkeypatch, capsys):
    out = run_example("mle_hessians.py", monkeypatch, capsys)
    assert "CONVERGED" in out
    assert "The log-sigma entry: 2n = 200; jg.mle 200.000000" in out


@pytest.mark.slow
def test_poisson_three_ways(monkeypatch, capsys):
    out = run_example("poisson_three_ways.py", monkeypatch, capsys)  # asserts each method reaches the MLE
    assert "jg.fit (IRLS/Newton)" in out and "optax L-BFGS" in out


@pytest.mark.slow
def test_glms_decomposed(monkeypatch, capsys, tmp_path):
    png = tmp_path / "coefficients.png"
    out = run_example("glms_decomposed.py", monkeypatch, capsys, "--out", str(png))
    assert png.stat().st_size > 10_000
    for name in ["Gaussian (identity)", "Binomial (logit)", "Poisson (log)"]:
        assert name in out


@pytest.mark.slow
def test_simulation_study(monkeypatch, capsys):
    out = run_example("simulation_study.py", monkeypatch, capsys)
    assert "status counts: {'CONVERGED': 200}" in out
