"""Inverse solvers: plain functions on (sensitivity, data), and a registry for the CLI."""

from femeit.inverse.backprojection import backprojection, equipotential_mask
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
    "equipotential_mask",
    "lcurve_corner",
    "normalize_system",
    "occam",
    "prepare",
    "tikhonov",
    "tsvd",
]
