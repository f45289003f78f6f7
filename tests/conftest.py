"""Test configuration: float64 for reference comparisons (the library itself never sets this)."""

import jax

jax.config.update("jax_enable_x64", True)
