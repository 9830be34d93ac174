"""Inverse solvers: plain functions on (sensitivity, data), and a registry for the CLI."""

from femeit.inverse.backprojection import backprojection, equipotential_mask
from femeit.inverse.gpsr import column_normalize, gpsr, gpsr_bb, kgpsr, tgpsr
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
from femeit.inverse.twist import twist

__all__ = [
    "LinearSystem",
    "backprojection",
    "choose_lambda",
    "choose_rank",
    "column_normalize",
    "corrected_landweber",
    "equipotential_mask",
    "golub_kahan",
    "gpsr",
    "gpsr_bb",
    "kgpsr",
    "landweber",
    "lcurve_corner",
    "normalize_system",
    "occam",
    "prepare",
    "tgpsr",
    "tikhonov",
    "tsvd",
    "twist",
]
