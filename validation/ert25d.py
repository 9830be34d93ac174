"""The 2.5D ERT forward model against exact solutions, on a 32-electrode line.

Run:  python validation/ert25d.py [-o validation/out]

* Ground: 32 point electrodes at 1 m on the surface; the default graded mesh
  (``femeit.ert.mesh25d.halfplane_mesh``: a / 10 at the electrodes, growth 0.25,
  domain 5 profile lengths out), P2 elements, the default wavenumber rule,
  the mixed boundary condition.
* Arrays: Wenner alpha (all spacings), Wenner-Schlumberger (n <= 10),
  dipole-dipole (a = 1, 2; n <= 6), pole-dipole (n <= 6, remote electrode).
* References (all exact): the homogeneous half-space (K = 2 pi / (...)), a
  two-layer ground (h = 2 m; 100 over 10 ohm m and 10 over 100 ohm m, image
  series) and a vertical contact at x = 15.5 m (100 | 10 ohm m, images).
* Topography: the slag-dump profile of the unified-format example data
  (``tests/data/ert/slagdump.ohm``): mesh size and the numeric geometric
  factors of its Wenner readings against the flat-ground formula.

Writes ``ert25d.md``; exits non-zero when any apparent resistivity (reading)
differs from the exact one by 0.5 % or more.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from femeit.ert import (
    dipole_dipole,
    geometric_factor,
    numeric_geometric_factor,
    pole_dipole,
    schlumberger,
    wenner_alpha,
)
from femeit.ert.exact import two_layer_green, vertical_contact_green
from femeit.ert.formats import read_unified
from femeit.ert.forward25d import Forward25D, readings
from femeit.ert.mesh25d import halfplane_mesh

ROOT = Path(__file__).resolve().parents[1]
N = 32
LIMIT = 5e-3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    x = np.arange(N, dtype=float)
    line = np.column_stack([x, np.zeros(N)])
    arrays = {
        "Wenner alpha": wenner_alpha(N),
        "Schlumberger n<=10": schlumberger(N, n_max=10),
        "dipole-dipole a=1,2 n<=6": dipole_dipole(N, spacings=(1, 2), n_max=6),
        "pole-dipole n<=6": pole_dipole(N, n_max=6),
    }
    rows, ok = [], True

    def check(case: str, green: np.ndarray, exact: np.ndarray, elements: int, seconds: float) -> None:
        nonlocal ok
        for name, p in arrays.items():
            err = np.abs(readings(green, p) / readings(exact, p) - 1)
            ok &= bool(err.max() < LIMIT)
            rows.append(
                f"| {case} | {name} | {p.n_rows} | {100 * err.max():.3f} | {100 * err.mean():.3f} | "
                f"{elements} | {seconds:.1f} |"
            )

    r = np.abs(x[:, None] - x[None, :])
    np.fill_diagonal(r, 1.0)
    t = time.perf_counter()
    mesh = halfplane_mesh(line)
    model = Forward25D(mesh)
    green = model.transfer_matrix(1 / 100.0)
    check("homogeneous 100 ohm m", green, 100 / (2 * np.pi * r), mesh.n_elements, time.perf_counter() - t)
    for rho1, rho2 in ((100.0, 10.0), (10.0, 100.0)):
        t = time.perf_counter()
        mesh = halfplane_mesh(line, layers=[-2.0])
        green = Forward25D(mesh).transfer_matrix(lambda c, a=rho1, b=rho2: np.where(c[:, 1] > -2.0, 1 / a, 1 / b))
        check(
            f"two layers {rho1:g}/{rho2:g}, h = 2 m",
            green,
            two_layer_green(x, rho1, rho2, 2.0),
            mesh.n_elements,
            time.perf_counter() - t,
        )
    t = time.perf_counter()
    xc = 15.5
    mesh = halfplane_mesh(line, interfaces=[np.array([[xc, 0.0], [xc, -5 * 31.0]])])
    green = Forward25D(mesh).transfer_matrix(lambda c: np.where(c[:, 0] < xc, 1 / 100.0, 1 / 10.0))
    check(
        "vertical contact 100 | 10",
        green,
        vertical_contact_green(x, xc, 100.0, 10.0),
        mesh.n_elements,
        time.perf_counter() - t,
    )

    slag = read_unified(ROOT / "tests" / "data" / "ert" / "slagdump.ohm")
    t = time.perf_counter()
    mesh = halfplane_mesh(slag.profile())
    k_num = numeric_geometric_factor(Forward25D(mesh).transfer_resistances(1.0, slag.protocol()))
    seconds = time.perf_counter() - t
    ratio = k_num / geometric_factor(slag.abmn, slag.positions())
    lines = [
        "# 2.5D forward model against exact solutions",
        "",
        f"{N} electrodes at 1 m; P2; default mesh and wavenumbers; pass: every reading within {100 * LIMIT:g} %.",
        "",
        "| ground | array | rows | max error % | mean error % | triangles | seconds (mesh + solve) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Slag dump (topography from the file, {slag.n_sensors} electrodes, {slag.n_data} readings): "
        f"{mesh.n_elements} triangles, {len(Forward25D(mesh).k)} wavenumbers, {seconds:.1f} s; "
        f"numeric K / flat-ground K from {ratio.min():.3f} to {ratio.max():.3f} (median {np.median(ratio):.3f}).",
        "",
        f"Result: {'PASS' if ok else 'FAIL'}",
    ]
    (args.out / "ert25d.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
