"""The Normal linear model by maximum likelihood in (b1, b2, log sigma): closed form, jg.mle, statsmodels.

Model: y_i = b1 + b2 x_i + e_i, e_i ~ N(0, sigma^2).  With tau = log sigma
the negative log-likelihood is

    f(b, tau) = n tau + RSS(b) exp(-2 tau) / 2 + (n / 2) log(2 pi),

minimised in closed form by least squares for b and sigma^2 = RSS / n.  Its
Hessian at the optimum is block diagonal:

    d^2 f / db db^T   = X^T X / sigma^2,
    d^2 f / db dtau   = -2 X^T (y - X b) / sigma^2 = 0  (normal equations),
    d^2 f / dtau^2    = 2 RSS exp(-2 tau) = 2 n        (since exp(2 tau) = RSS / n).

The last entry is the one hand derivations get wrong: d/dtau exp(-2 tau) =
-2 exp(-2 tau) has to be applied twice (a factor 4, halved by the 1/2), so
dropping one factor 2 gives n; and reusing the Hessian in sigma,
d^2 f / dsigma^2 = -n / sigma^2 + 3 RSS / sigma^4 = 2 n / sigma^2, for the
log-sigma entry is wrong by the factor sigma^2 of the chain rule (at the
optimum d^2 f / dtau^2 = sigma^2 d^2 f / dsigma^2, because df / dsigma = 0).
Autodiff applies the chain rule mechanically: ``jg.mle`` reports 2 n, as
statsmodels' finite differences do (to their accuracy).

Run:  python examples/mle_hessians.py [--small]
"""

import argparse
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from statsmodels.base.model import GenericLikelihoodModel

jax.config.update("jax_enable_x64", True)

import jaxglm as jg  # noqa: E402

NAMES = ["b1", "b2", "log_sigma"]


def simulate(n, seed=2):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    return X, X @ np.array([1.0, 2.0]) + 1.5 * rng.normal(size=n)


def negloglik(params, X, y):
    """f(b, tau) for jg.mle: params = {"b": (2,), "log_sigma": ()}."""
    tau = params["log_sigma"]
    rss = jnp.sum((y - X @ params["b"]) ** 2)
    return y.shape[0] * tau + 0.5 * rss * jnp.exp(-2 * tau) + 0.5 * y.shape[0] * jnp.log(2 * jnp.pi)


class NormalLinear(GenericLikelihoodModel):
    """The same model for statsmodels, in NumPy: params = (b1, b2, log sigma)."""

    def loglike(self, params):
        b, tau = params[:2], params[2]
        rss = np.sum((self.endog - self.exog @ b) ** 2)
        n = len(self.endog)
        return -(n * tau + 0.5 * rss * np.exp(-2 * tau) + 0.5 * n * np.log(2 * np.pi))


def closed_form(X, y):
    b = np.linalg.solve(X.T @ X, X.T @ y)
    n = len(y)
    sigma2 = np.sum((y - X @ b) ** 2) / n
    hessian = np.zeros((3, 3))
    hessian[:2, :2] = X.T @ X / sigma2
    hessian[2, 2] = 2 * n
    return np.r_[b, 0.5 * np.log(sigma2)], hessian


def print_matrix(title, matrix):
    print(title)
    print(" " * 11 + "".join(f"{name:>14}" for name in NAMES))
    for name, row in zip(NAMES, matrix):
        print(f"{name:>11}" + "".join(f"{v:14.6f}" for v in row))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: n=100")
    args = parser.parse_args(argv)
    n = 100 if args.small else 1000
    X, y = simulate(n)

    theta_cf, hess_cf = closed_form(X, y)
    res = jg.mle(negloglik, {"b": jnp.zeros(2), "log_sigma": jnp.asarray(0.0)}, X, y)
    theta_jg = np.r_[np.asarray(res.params["b"]), float(res.params["log_sigma"])]
    se_jg = np.r_[np.asarray(res.std_err["b"]), float(res.std_err["log_sigma"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = NormalLinear(y, X)
        sm_res = model.fit(start_params=np.zeros(3), method="bfgs", gtol=1e-10, maxiter=1000, disp=0)
        hess_sm = -model.hessian(sm_res.params)  # statsmodels: Hessian of the log-likelihood
    se_cf = np.sqrt(np.diag(np.linalg.inv(hess_cf)))

    print(f"Normal linear model, n = {n}; jg.mle: status {jg.status.explain(res)}, "
          f"{int(res.n_iter)} Newton steps\n")
    print(f"{'estimate':>11}{'closed form':>14}{'jg.mle':>14}{'statsmodels':>14}"
          f"{'se (closed)':>14}{'se jg.mle':>14}{'se sm':>14}")
    for i, name in enumerate(NAMES):
        print(f"{name:>11}{theta_cf[i]:14.6f}{theta_jg[i]:14.6f}{sm_res.params[i]:14.6f}"
              f"{se_cf[i]:14.6f}{se_jg[i]:14.6f}{sm_res.bse[i]:14.6f}")
    print()
    print_matrix("Hessian of -loglik, closed form:", hess_cf)
    print_matrix("Hessian of -loglik, jg.mle (jax.hessian):", np.asarray(res.hessian))
    print_matrix("Hessian of -loglik, statsmodels (finite differences):", hess_sm)

    sigma2 = np.exp(2 * theta_cf[2])
    print(f"\nThe log-sigma entry: 2n = {2 * n}; jg.mle {float(res.hessian[2, 2]):.6f}; "
          f"statsmodels {hess_sm[2, 2]:.6f}.")
    print(f"Careless versions: dropping one factor 2 of d exp(-2 tau)/d tau gives n = {n};\n"
          f"  the Hessian in sigma, 2n/sigma^2 = {2 * n / sigma2:.6f}, is not the log-sigma entry.")
    print(f"max |jg.mle - closed form|: estimates {np.max(np.abs(theta_jg - theta_cf)):.1e}, "
          f"Hessian {np.max(np.abs(np.asarray(res.hessian) - hess_cf)):.1e}")


if __name__ == "__main__":
    main()
