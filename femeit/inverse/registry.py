"""Solvers by name, with one calling convention, for the command line and batch studies.

Every entry takes ``(jac, dz, z0, grid, lam, rank)`` (lam and rank may be
``None`` for automatic choice) and returns ``(x, info)``, with x the
conductivity change per grid parameter and info a dict of the choices made.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from femeit.errors import FemeitError
from femeit.inverse.backprojection import backprojection
from femeit.inverse.gpsr import column_normalize, gpsr, kgpsr, tgpsr
from femeit.inverse.landweber import landweber
from femeit.inverse.leastsquares import choose_lambda, choose_rank, prepare
from femeit.inverse.smdr import SMDR
from femeit.inverse.twist import twist


def _tikhonov(jac, dz, z0, grid, lam, rank):
    system = prepare(jac)
    lam = choose_lambda(system, dz)["lam"] if lam is None else lam
    return system.tikhonov_path(dz, [lam])[0], {"lambda": lam}


def _occam(jac, dz, z0, grid, lam, rank):
    system = prepare(jac, grid.difference_operator(2))
    lam = choose_lambda(system, dz)["lam"] if lam is None else lam
    return system.tikhonov_path(dz, [lam])[0], {"lambda": lam}


def _tsvd(jac, dz, z0, grid, lam, rank):
    system = prepare(jac)
    rank = choose_rank(system, dz)["rank"] if rank is None else rank
    return system.tsvd_matrix(rank) @ dz, {"rank": rank}


def _backprojection(jac, dz, z0, grid, lam, rank):
    return backprojection(jac, dz, z0), {"k": 1.0}


def _landweber(jac, dz, z0, grid, lam, rank):
    # Early stopping is the regularisation; 500 iterations at step 1/||S||^2 is
    # the ERT paper's first pass.  No bounds: the registry images changes.
    result = landweber(jac, dz, 500)
    return result.x, {"iterations": 500, "step": result.step}


def _smdr(jac, dz, z0, grid, lam, rank):
    # Relative data (v - v0) / v0 and the Jacobian rows scaled alike, as in
    # validation/smdr.py: every reading weighs the same, and the L-curve corner
    # of that system gives Tikhonov images whose four clusters SMDR can use (on
    # absolute data the corner is far too small for the restricted
    # re-reconstructions).  lambda, if given, is for the relative system.
    # SMDR's image is normalised to [0, 1] (eq. 19); times its peak it is a
    # conductivity change like the other entries' images.
    z0 = np.asarray(z0, dtype=float)
    if z0.shape != (jac.shape[0],) or np.any(z0 == 0):
        raise FemeitError("smdr needs the reference readings z0, one non-zero value per data row")
    jac, dz = jac / z0[:, None], np.asarray(dz, dtype=float) / z0
    lam = choose_lambda(prepare(jac), dz)["lam"] if lam is None else lam
    result = SMDR(jac, lam)(dz)
    return result.peak * result.x, {
        "lambda": lam,
        "peak": result.peak,
        "object pixels": int(result.clusters_post.sizes[:2].sum()),
    }


def _sparse(method: str) -> Callable:
    # The KGPSR-BB paper's pipeline: column normalisation (eq. 7), the solver
    # with Table 1's parameters, and the normalised image mapped back to a
    # conductivity change x = x_N / d.
    def run(jac, dz, z0, grid, lam, rank):
        S, d = column_normalize(jac)
        # The paper's w = 50 and k = 55, capped for systems with fewer rows or columns.
        if method == "gpsr":
            result = gpsr(S, dz, lam)
        elif method == "tgpsr":
            result = tgpsr(S, dz, min(50, min(S.shape)) if rank is None else rank, lam)
        elif method == "kgpsr":
            result = kgpsr(S, dz, min(55, min(S.shape)) if rank is None else rank, lam)
        else:
            # Table 1's lam = 1e-9 leaves the problem unregularised: solved to convergence it
            # returns noise, so with that lam the early-stopped variant is what regularises.
            result = twist(S, dz, 1e-9, stop="objective") if lam is None else twist(S, dz, lam)
        info = {"lambda": result.lam, "iterations": result.iterations}
        if method in ("tgpsr", "kgpsr"):
            info["rank" if method == "tgpsr" else "k"] = result.extra.get("rank", result.extra.get("k"))
        return result.x / d, info

    return run


SOLVERS: dict[str, Callable] = {
    "tikhonov": _tikhonov,
    "marquardt": _tikhonov,
    "occam": _occam,
    "tsvd": _tsvd,
    "backprojection": _backprojection,
    "landweber": _landweber,
    "smdr": _smdr,
    "gpsr": _sparse("gpsr"),
    "tgpsr": _sparse("tgpsr"),
    "kgpsr": _sparse("kgpsr"),
    "twist": _sparse("twist"),
}


def solve(name: str, jac: np.ndarray, dz: np.ndarray, z0: np.ndarray, grid, lam=None, rank=None):
    """Run solver ``name`` (see :data:`SOLVERS`)."""
    if name not in SOLVERS:
        raise FemeitError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}")
    return SOLVERS[name](jac, dz, z0, grid, lam, rank)
