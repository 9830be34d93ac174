"""Electrical resistivity tomography (ERT): arrays, geometric factors, data files, error models.

- :mod:`femeit.ert.arrays`: the standard arrays on a line as protocols (pole
  arrays use one extra "remote" electrode at infinity);
- :mod:`femeit.ert.geometric`: geometric factors (analytic, numeric) and apparent resistivity;
- :mod:`femeit.ert.errors_model`: reciprocal-error analysis and the error model a + b|R|;
- :mod:`femeit.ert.data`: :class:`ERTData`, positions + (A, B, M, N) rows + named columns;
- :mod:`femeit.ert.formats`: the unified data format of BERT/pyGIMLi and Res2DInv's general array format;
- :mod:`femeit.ert.forward25d`: the 2.5D forward model (2D mesh, Fourier-cosine transform in y)
  and :mod:`femeit.ert.mesh25d`, its graded half-plane mesh with topography;
- :mod:`femeit.ert.mesh3d`: a graded 3D half-space mesh sized to the survey (point electrodes,
  for femeit's 3D :class:`~femeit.forward.ForwardModel`);
- :mod:`femeit.ert.model25d`: :class:`ERTModel`, a protocol's readings and their Jacobian
  (for :func:`femeit.inverse.gauss_newton.invert_model`);
- :mod:`femeit.ert.exact`: exact references for y-invariant grounds (two layers, vertical contact).

Electrodes are 0-based; the pole arrays' remote electrode is one extra index L
at infinity (position ``inf``), written as 0 in the unified format.
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
from femeit.ert.data import ERTData
from femeit.ert.errors_model import (
    ReciprocalAnalysis,
    error_model,
    fit_error_model,
    reciprocal_analysis,
    reciprocal_pairs,
)
from femeit.ert.formats import read_res2dinv, read_unified, write_res2dinv, write_unified
from femeit.ert.forward25d import Forward25D, readings, wavenumbers
from femeit.ert.geometric import apparent_resistivity, geometric_factor, numeric_geometric_factor
from femeit.ert.mesh3d import halfspace_mesh_3d
from femeit.ert.mesh25d import HalfPlaneMesh, closed_mesh, halfplane_mesh
from femeit.ert.model25d import ERTModel

__all__ = [
    "ERTData",
    "ERTModel",
    "Forward25D",
    "HalfPlaneMesh",
    "ReciprocalAnalysis",
    "apparent_resistivity",
    "closed_mesh",
    "dipole_dipole",
    "error_model",
    "fit_error_model",
    "geometric_factor",
    "gradient",
    "halfplane_mesh",
    "halfspace_mesh_3d",
    "line_positions",
    "multiple_gradient",
    "numeric_geometric_factor",
    "pole_dipole",
    "pole_pole",
    "read_res2dinv",
    "read_unified",
    "readings",
    "reciprocal_analysis",
    "reciprocal_pairs",
    "schlumberger",
    "wavenumbers",
    "wenner_alpha",
    "wenner_beta",
    "wenner_gamma",
    "write_res2dinv",
    "write_unified",
]
