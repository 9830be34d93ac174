"""Electrical resistivity tomography (ERT): arrays, geometric factors, data files, error models.

- :mod:`femeit.ert.arrays`: the standard arrays on a line as protocols (pole
  arrays use one extra "remote" electrode at infinity);
- :mod:`femeit.ert.geometric`: geometric factors (analytic, numeric) and apparent resistivity;
- :mod:`femeit.ert.errors_model`: reciprocal-error analysis and the error model a + b|R|;
- :mod:`femeit.ert.formats`: the unified data format of BERT/pyGIMLi and Res2DInv's general array format;
- :mod:`femeit.ert.forward25d`: the 2.5D forward model (2D mesh, Fourier-cosine transform in y)
  and :mod:`femeit.ert.mesh25d`, its graded half-plane mesh with topography.
"""

from femeit.ert.arrays import (
    dipole_dipole,
    gradient,
    line_positions,
    multiple_gradient,
    pole_dipole,
    pole_pole,
    schlumberger,
    wenner_alpha,
    wenner_beta,
    wenner_gamma,
)
from femeit.ert.errors_model import (
    ReciprocalAnalysis,
    error_model,
    fit_error_model,
    reciprocal_analysis,
    reciprocal_pairs,
)
from femeit.ert.geometric import apparent_resistivity, geometric_factor, numeric_geometric_factor

__all__ = [
    "ReciprocalAnalysis",
    "apparent_resistivity",
    "dipole_dipole",
    "error_model",
    "fit_error_model",
    "geometric_factor",
    "gradient",
    "line_positions",
    "multiple_gradient",
    "numeric_geometric_factor",
    "pole_dipole",
    "pole_pole",
    "reciprocal_analysis",
    "reciprocal_pairs",
    "schlumberger",
    "wenner_alpha",
    "wenner_beta",
    "wenner_gamma",
]
