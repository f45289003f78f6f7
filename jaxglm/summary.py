"""``summary``: a text table in the layout of R's ``print(summary(glm(...)))``.

Host side only (it formats NumPy values); nothing in the library imports it.
"""

import numpy as np

from .status import Status, explain

SIGNIFICANCE = ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, "."), (1.0, " "))
SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def _stars(p):
    if not np.isfinite(p):
        return ""
    return next(code for bound, code in SIGNIFICANCE if p <= bound)


def _format_p(p):
    """R's format.pval with 3 significant digits: '<2e-16' below double epsilon."""
    if not np.isfinite(p):
        return "NA"
    if p < 2.220446e-16:
        return "<2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def _format_number(x, digits=5):
    return "NA" if not np.isfinite(x) else f"{x:.{digits}g}"


def _format_common(values, digits=5):
    """Format values with common decimals so each shows ``digits`` significant digits (R's format)."""
    finite = [abs(v) for v in values if np.isfinite(v) and v != 0]
    int_digits = [int(np.floor(np.log10(v))) + 1 for v in finite] or [1]
    decimals = max(0, max(digits - d for d in int_digits))
    texts = ["NA" if not np.isfinite(v) else f"{v:.{decimals}f}" for v in values]
    width = max(len(t) for t in texts)
    return [t.rjust(width) for t in texts]


def _family_label(family):
    params = family.params()
    if "alpha" in params:
        return f"Negative Binomial(theta = {1.0 / float(params['alpha']):.4g})"
    if "power" in params:
        return f"Tweedie(var.power = {float(params['power']):.4g})"
    return family.name


def _coefficient_table(res, names):
    stat_name = "z value" if res.family.scale_fixed else "t value"
    p_name = "Pr(>|z|)" if res.family.scale_fixed else "Pr(>|t|)"
    header = ["", "Estimate", "Std. Error", stat_name, p_name, ""]
    rows = []
    for name, b, se, z, p in zip(names, *(np.asarray(getattr(res, f)) for f in
                                           ("coef", "std_err", "statistic", "p_value"))):
        rows.append([name, _format_number(b), _format_number(se, 4), _format_number(z, 4),
                     _format_p(p), _stars(p)])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: " ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:-1], widths[1:-1])]
                              + [r[-1].ljust(widths[-1])]).rstrip()
    return [line(header)] + [line(r) for r in rows]


def summary(res, names=None):
    """Text summary of one fitted model, laid out like R's ``summary.glm``.

    Args:
        res: a single-model ``GLMResult`` (index a batch first: ``jax.tree.map(lambda a: a[i], batch)``).
        names: optional list of p coefficient names (default ``x0 .. x{p-1}``).

    Returns:
        str.

    Example::

        print(jg.summary(res, names=["(Intercept)", "age", "dose"]))
    """
    coef = np.asarray(res.coef)
    if coef.ndim != 1:
        raise ValueError(f"summary needs a single model; got a batch of {coef.shape[0]} (index it first)")
    p = coef.shape[0]
    names = [f"x{j}" for j in range(p)] if names is None else [str(n) for n in names]
    if len(names) != p:
        raise ValueError(f"names has {len(names)} entries but the model has {p} coefficients")
    family = res.family
    n_aliased = int(np.sum(np.asarray(res.aliased)))
    lines = [f"Family: {_family_label(family)}   Link: {family.link.name}", ""]
    title = "Coefficients:" if n_aliased == 0 else f"Coefficients: ({n_aliased} not defined because of singularities)"
    lines += [title] + _coefficient_table(res, names) + ["---", SIGNIF_LEGEND, ""]
    scale = float(res.scale)
    lines.append(f"(Dispersion parameter for {_family_label(family)} family taken to be {scale:.7g})")
    lines.append("")
    df_null = int(res.df_resid + res.df_model)
    null_dev, dev = _format_common([float(res.null_deviance), float(res.deviance)])
    lines.append(f"    Null deviance: {null_dev}  on {df_null}  degrees of freedom")
    lines.append(f"Residual deviance: {dev}  on {int(res.df_resid)}  degrees of freedom")
    lines.append(f"AIC: {_format_number(float(res.aic))}")
    lines.append("")
    lines.append(f"Number of Fisher Scoring iterations: {int(res.n_iter)}")
    code = int(res.status)
    if code != Status.CONVERGED:
        lines += ["", f"Status: {explain(code)}"]
    return "\n".join(lines)
