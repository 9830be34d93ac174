"""Sparse solvers of the KGPSR-BB paper (Li et al. 2021): per-frame time on its 3D cylinder.

Run:  python benchmarks/sparse.py

The paper's cylinder (``geometries/kgpsr_cylinder.toml``, about 72k tetrahedra, 16 circular
electrodes, 208 adjacent readings), Jacobian on the mid-height slab (2 cm) cut
into the 812- and 2472-pixel grids, column normalisation of eq. 7. KGPSR-BB is
timed both ways: the bidiagonalisation in the coordinates of the SVD computed
once per Jacobian (the default of the validation) and directly on S (no per-
Jacobian work). Data: one off-centre object (3 S/m in 1 S/m), 3 % noise. Times
are medians per frame with everything that depends only on the Jacobian (the
normalisation, the SVDs, ||S||) computed once; that set-up is printed
separately, with the iteration counts.  The solvers run to their default
(converged) stopping tests; "(early)" rows use the relative objective change
1e-2, femeit's former default.  The paper's Table 2 times (the smallest of its
five phantoms) are given in brackets for comparison; nothing here is a pass /
fail check.
"""

from __future__ import annotations

import time

from timing import median_time

import femeit as fe
from femeit.forward import ForwardModel
from femeit.grids import SliceGrid
from femeit.inverse.gpsr import column_normalize, gpsr, kgpsr, tgpsr, truncated_svd
from femeit.inverse.landweber import landweber
from femeit.inverse.leastsquares import prepare
from femeit.inverse.twist import twist
from femeit.noise import add_noise
from femeit.phantom import Phantom, VerticalCylinder
from femeit.protocol import Protocol

PAPER_FASTEST = {  # Table 2, fastest phantom, s
    "Landweber (100 it)": 0.23,
    "TIK (iterated, 100)": 8.00,
    "TwIST": 0.042,
    "GPSR-BB": 0.043,
    "TGPSR-BB": 0.11,
    "KGPSR-BB": 0.031,
}


EARLY = {"stop": "objective", "tol": 1e-2}


def main() -> None:
    mesh = fe.mesh_from_spec(fe.load_spec("geometries/kgpsr_cylinder.toml"))
    model = ForwardModel(mesh, Protocol.adjacent(16), contact_impedance=1e-4)
    truth = Phantom(1.0, ((VerticalCylinder((0.045, 0.02), 0.025, 0.02, 0.08), 3.0),)).on_mesh(mesh)
    v0 = model.simulate(1.0)
    y = add_noise(model.simulate(truth), percent=3.0, seed=0) - v0
    print(f"{mesh.n_elements} tetrahedra, {len(y)} readings")
    for n in (32, 56):
        grid = SliceGrid(mesh, 0.05, 0.02, shape=(n, n), bounds=(-0.1, 0.1, -0.1, 0.1), min_fraction=0.5)
        jac = model.jacobian(1.0, basis=grid.P)
        start = time.perf_counter()
        S, _ = column_normalize(jac)
        system = prepare(S)
        tik = system.iterated_tikhonov_matrix(0.01, 100)
        norm2 = float(system.s[0] ** 2)
        svd50 = truncated_svd(S, 50)
        svd = (system.u, system.s, system.v.T.copy())
        setup = time.perf_counter() - start
        print(f"\n{grid.n_params} pixels; per-Jacobian set-up (normalise, SVD, TSVD) {setup * 1e3:.0f} ms")
        runs = {
            "Landweber (100 it)": lambda S=S, norm2=norm2: landweber(S, y, 100, step=1 / norm2),
            "TIK (iterated, 100)": lambda tik=tik: tik @ y,
            "TwIST": lambda S=S, norm2=norm2: twist(S, y, 1e-9, lipschitz=norm2),
            "GPSR-BB": lambda S=S: gpsr(S, y),
            "TGPSR-BB": lambda S=S, svd50=svd50: tgpsr(S, y, 50, svd=svd50),
            "KGPSR-BB": lambda S=S, svd=svd: kgpsr(S, y, 55, svd=svd),
            "KGPSR-BB, Lanczos on S": lambda S=S: kgpsr(S, y, 55),
            "KGPSR-BB, g-form": lambda S=S, svd=svd: kgpsr(S, y, 55, svd=svd, penalty="coefficients"),
            "TwIST (early)": lambda S=S, norm2=norm2: twist(S, y, 1e-9, lipschitz=norm2, **EARLY),
            "GPSR-BB (early)": lambda S=S: gpsr(S, y, **EARLY),
            "TGPSR-BB (early)": lambda S=S, svd50=svd50: tgpsr(S, y, 50, svd=svd50, **EARLY),
        }
        for name, fn in runs.items():
            first = fn()
            # Converged solvers take seconds: fewer repeats (a figure, not a check).
            t = median_time(fn, 30 if "early" in name or "Landweber" in name or "TIK" in name else 3)
            its = f", {first.iterations} it" if hasattr(first, "iterations") else ""
            paper = (
                f"   (paper, 812 px: {PAPER_FASTEST[name] * 1e3:.0f} ms)" if n == 32 and name in PAPER_FASTEST else ""
            )
            print(f"  {name:<24} {t * 1e3:8.2f} ms{its}{paper}")


if __name__ == "__main__":
    main()
