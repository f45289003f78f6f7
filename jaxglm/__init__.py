"""jaxglm: JAX-compiled, functional generalized linear models.

Public names only; see ``shared/API.md`` for the contract.
"""

from . import links, status
from .batch import fit_many
from .families import (Binomial, Family, Gamma, Gaussian, InverseGaussian, NegativeBinomial,
                       Poisson, Tweedie)
from .fit import fit
from .mle import MLEResult, mle
from .nuisance import fit_ml
from .predict import predict, residuals
from .result import GLMResult
from .status import Status
from .summary import summary

__version__ = "0.1.0"

__all__ = [
    "Binomial", "Family", "Gamma", "Gaussian", "GLMResult", "MLEResult", "InverseGaussian", "NegativeBinomial",
    "Poisson", "Status", "Tweedie", "fit", "fit_ml", "fit_many", "mle", "links", "predict", "residuals", "status", "summary",
]
