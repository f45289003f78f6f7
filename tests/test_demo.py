"""The README's main job (python -m jaxglm.demo) runs and reports sensible results."""

from jaxglm import demo


def test_demo_runs_and_recovers_the_truth(capsys):
    demo.main(["--models", "64", "--seed", "1"])
    out = capsys.readouterr().out
    assert "Estimate Std. Error z value Pr(>|z|)" in out
    assert "(Dispersion parameter for poisson family taken to be 1)" in out
    assert "statuses: {'CONVERGED': 64}" in out
    coverage = [float(v) for v in out.split("95% CI coverage:")[1].strip(" []\n").split()]
    assert len(coverage) == 4 and all(0.75 <= c <= 1.0 for c in coverage)
