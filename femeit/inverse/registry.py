"""The former solver-by-name call, now a thin alias of :mod:`femeit.inverse.base`.

``solve(name, jac, dz, z0, grid, lam, rank)`` builds the registry solver
``name`` and runs it on one frame, returning ``(x, params)``.  New code should
build once and call per frame::

    from femeit.inverse.base import build
    solver = build(name, jac, grid=grid, noise=noise, reference=z0)
    rec = solver(dz)

``lam`` maps to the solver's ``lam`` (Tikhonov, Occam, SMDR, the L1 solvers),
``rank`` to TSVD's ``rank``, TGPSR-BB's ``rank`` and KGPSR-BB's ``k``; giving
either to a solver that has no such parameter is an error.  SMDR gets a
purely relative noise model (``std_i = |z0_i|``), i.e. relative data (see
:class:`femeit.inverse.scaling.RelativeData`), and images the positive part
(eq. 19), as before.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from femeit.errors import FemeitError
from femeit.inverse.base import CLASSICAL, build
from femeit.noise_model import NoiseModel


def solve(name: str, jac: np.ndarray, dz: np.ndarray, z0: np.ndarray, grid, lam=None, rank=None):
    """Run solver ``name`` on one frame; returns ``(x, params used)`` (see the module docstring)."""
    if name not in CLASSICAL:
        raise FemeitError(f"unknown solver {name!r}; choose one of {sorted(CLASSICAL)}")
    params = {}
    if lam is not None:
        params["lam"] = lam
    if rank is not None:
        params[{"tsvd": "rank", "tgpsr": "rank", "kgpsr": "k"}.get(name, "rank")] = rank
    noise = None
    if name == "smdr":
        z0 = None if z0 is None else np.asarray(z0, dtype=float)
        if z0 is None or z0.shape != (np.shape(jac)[0],) or np.any(z0 == 0):
            raise FemeitError("smdr needs the reference readings z0, one non-zero value per data row")
        noise = NoiseModel(relative=1.0)
        params["sign"] = "positive"  # the former entry's eq. 19 image
    rec = build(name, jac, grid=grid, noise=noise, reference=z0, **params)(dz)
    return rec.x, dict(rec.params)


def _entry(name: str) -> Callable:
    def run(jac, dz, z0, grid, lam=None, rank=None):
        return solve(name, jac, dz, z0, grid, lam, rank)

    run.__name__ = f"solve_{name}"
    return run


SOLVERS: dict[str, Callable] = {name: _entry(name) for name in CLASSICAL}
"""Name -> ``f(jac, dz, z0, grid, lam, rank) -> (x, params)``, aliases of the registry of :mod:`femeit.inverse.base`."""
