"""Inverse solvers: plain functions on (sensitivity, data), and the solver contract.

``build(name, jac, grid=..., noise=..., reference=...)`` returns a solver built
once; ``solver(dv)`` returns a :class:`Reconstruction` (see :mod:`femeit.inverse.base`).
"""

from femeit.inverse.backprojection import backprojection, equipotential_mask
from femeit.inverse.base import REGISTRY, Reconstruction, Solver, build
from femeit.inverse.gpsr import column_normalize, gpsr, gpsr_bb, kgpsr, tgpsr
from femeit.inverse.kmeans import kmeans_1d
from femeit.inverse.krylov import golub_kahan
from femeit.inverse.landweber import corrected_landweber, landweber
from femeit.inverse.leastsquares import (
    LinearSystem,
    choose_lambda,
    choose_rank,
    lcurve_corner,
    normalize_system,
    occam,
    prepare,
    tikhonov,
    tsvd,
)
from femeit.inverse.smdr import SMDR, SMDRResult, filter_normalize, location_compensation, smdr, suppress_artifacts
from femeit.inverse.twist import twist

__all__ = [
    "REGISTRY",
    "SMDR",
    "LinearSystem",
    "Reconstruction",
    "SMDRResult",
    "Solver",
    "backprojection",
    "build",
    "choose_lambda",
    "choose_rank",
    "column_normalize",
    "corrected_landweber",
    "equipotential_mask",
    "filter_normalize",
    "golub_kahan",
    "gpsr",
    "gpsr_bb",
    "kgpsr",
    "kmeans_1d",
    "landweber",
    "lcurve_corner",
    "location_compensation",
    "normalize_system",
    "occam",
    "prepare",
    "smdr",
    "suppress_artifacts",
    "tgpsr",
    "tikhonov",
    "tsvd",
    "twist",
]
