"""Curved (second-order) geometry against exact solutions: error vs elements, straight and curved.

Run:  python validation/curved_geometry.py [-o validation/out] [--quick]

Two exact references, P2 fields throughout, point electrodes:

* a ball of radius 1 with a concentric inner sphere of radius 0.5 and ten
  times the conductivity, 16 electrodes on the equator, adjacent protocol
  (``femeit.analytic.layered_ball_point_potentials``);
* the Gasulla-like buried sphere: 16 surface electrodes at spacing 1, a sphere
  of radius 0.5 at depth 1.5 and 100 times the background conductivity,
  dipole-dipole and Schlumberger rows together (``femeit.analytic.halfspace_sphere_anomaly``);
  the FEM anomaly is the difference of the model with and without the sphere on
  the same mesh.

Each mesh is solved twice: straight (the first-order mesh from gmsh) and curved
(:func:`femeit.geometry.curved_mesh`: mid-edge nodes on the spheres, isoparametric
P2).  The error is max |v - v_exact| / max |v_exact| over all rows.  The script
writes ``curved_geometry.md`` (the table, with the meshed / true inclusion
volume) and exits non-zero unless, on every mesh, the curved error is below the
straight one, and on the finest mesh below half of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import femeit as fe
from femeit.analytic import halfspace_sphere_anomaly, layered_ball_point_potentials, protocol_voltages
from femeit.forward import ForwardModel
from femeit.geometry.curved import curved_mesh
from femeit.protocol import Protocol


def rel_max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def region_volume(mesh: fe.EITMesh, region: str, order: int) -> float:
    """Volume of a region integrated on the (possibly curved) elements, m^3."""
    model = ForwardModel(mesh, Protocol.adjacent(mesh.n_electrodes), electrode_model="point", order=order)
    return float(model.basis.dx[mesh.region(region)].sum())


def ball_rows(hs: list[float]) -> list[dict]:
    protocol = Protocol.adjacent(16)
    rows = []
    for h in hs:
        spec = fe.BallSpec(radius=1.0, h=h, h_electrode=h / 4, inner_radius=0.5)
        pos = np.array(spec.electrode_centres())
        exact = protocol_voltages(
            protocol, layered_ball_point_potentials(pos, 1.0, 1.0, 0.5, 10.0, protocol.injections)
        )
        straight = fe.mesh_from_spec(spec)
        for name, mesh in (("straight", straight), ("curved", curved_mesh(straight))):
            start = time.process_time()
            v = ForwardModel(mesh, protocol, electrode_model="point", order=2).simulate(
                {"domain": 1.0, "inclusion_inner": 10.0}
            )
            seconds = time.process_time() - start
            volume = region_volume(mesh, "inclusion_inner", 2) / (4 / 3 * np.pi * 0.5**3)
            rows.append(_row("ball, inner sphere x10", h, name, mesh, rel_max(v, exact), volume, seconds))
    return rows


def halfspace_rows(hs: list[float]) -> list[dict]:
    both = Protocol.from_abmn(np.concatenate([Protocol.dipole_dipole().abmn, Protocol.schlumberger().abmn]), 16)
    rows = []
    for h in hs:
        spec = fe.HalfspaceLineSpec(
            dim=3,
            padding=20.0,
            h_electrode=0.1,
            h_survey=1.0,
            h_far=60.0,
            h_inclusion=h,
            inclusions=(fe.SphereInclusion(0, 0, -1.5, 0.5),),
        )
        pos = np.c_[spec.electrode_x(), np.zeros(16), np.zeros(16)]
        exact = protocol_voltages(both, halfspace_sphere_anomaly(pos, (0, 0, -1.5), 0.5, 1.0, 100.0, both.injections))
        straight = fe.mesh_from_spec(spec)
        for name, mesh in (("straight", straight), ("curved", curved_mesh(straight))):
            start = time.process_time()
            model = ForwardModel(mesh, both, electrode_model="point", order=2)
            dv = model.simulate({"domain": 1.0, "inclusion_1": 100.0}) - model.simulate(1.0)
            seconds = time.process_time() - start
            volume = region_volume(mesh, "inclusion_1", 2) / (4 / 3 * np.pi * 0.5**3)
            rows.append(_row("buried sphere x100, depth 1.5", h, name, mesh, rel_max(dv, exact), volume, seconds))
    return rows


def _row(case, h, name, mesh, error, volume, seconds) -> dict:
    row = {
        "case": case,
        "h": h,
        "geometry": name,
        "elements": mesh.n_elements,
        "error": error,
        "volume": volume,
        "seconds": seconds,
    }
    print(
        f"{case:30s} h {h:<6g} {name:8s} {mesh.n_elements:8d} tet  error {error:.3e}  "
        f"volume ratio {volume:.6f}  {seconds:.1f} CPU s",
        flush=True,
    )
    return row


def failures(rows: list[dict]) -> list[str]:
    """Cases where curving did not lower the error (or, on the finest mesh, not below half)."""
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        pairs = {}
        for r in rows:
            if r["case"] == case:
                pairs.setdefault(r["h"], {})[r["geometry"]] = r["error"]
        finest = min(pairs)
        for h, p in pairs.items():
            limit = 0.5 * p["straight"] if h == finest else p["straight"]
            if not p["curved"] < limit:
                out.append(f"{case}, h {h}: curved {p['curved']:.3e} not below {limit:.3e}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--quick", action="store_true", help="two coarse meshes per case")
    args = parser.parse_args()
    ball_h = [0.2, 0.1] if args.quick else [0.2, 0.1, 0.07, 0.05]
    half_h = [0.2, 0.14] if args.quick else [0.2, 0.14, 0.1, 0.07]
    rows = ball_rows(ball_h) + halfspace_rows(half_h)
    lines = [
        "# Curved geometry: error vs elements",
        "",
        "P2 fields, point electrodes; error = max |v - v_exact| / max |v_exact|; volume = meshed / true "
        "volume of the inner sphere; CPU s of the forward solves (process time).",
        "",
        "| case | h | geometry | tetrahedra | error | volume | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['h']:g} | {r['geometry']} | {r['elements']} | {r['error']:.3e} | "
            f"{r['volume']:.6f} | {r['seconds']:.1f} |"
        )
    failed = failures(rows)
    lines += ["", "FAILED: " + "; ".join(failed) if failed else "Curving lowered the error on every mesh."]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curved_geometry.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
