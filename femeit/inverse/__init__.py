"""Inverse solvers: plain functions on (sensitivity, data), and a registry for the CLI."""

from femeit.inverse.backprojection import backprojection, equipotential_mask
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

__all__ = [
    "LinearSystem",
    "backprojection",
    "choose_lambda",
    "choose_rank",
    "corrected_landweber",
    "equipotential_mask",
    "landweber",
    "lcurve_corner",
    "normalize_system",
    "occam",
    "prepare",
    "tikhonov",
    "tsvd",
]
