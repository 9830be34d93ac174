"""Mesh every ready sensor in geometries/ and check it against its spec.

Run:  python examples/mesh_tour.py [--out DIR]

For each spec this prints the mesh summary and the worst relative error of the
electrode sizes and of the domain measure against the exact values, and exits
non-zero if an electrode is off by more than 0.5 % (2D) / 2 % (3D) or the
domain by more than 1 %.  With --out it also writes each mesh as .vtu for
ParaView.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import femeit as fe
from femeit.geometry.ball import spherical_cap_area
from femeit.geometry.cylinder import circular_patch_area

GEOMETRIES = Path(__file__).resolve().parent.parent / "geometries"


def exact_sizes(spec) -> tuple[list[float], float]:
    """Exact electrode sizes (0 for points) and domain measure of a spec."""
    if spec.kind == "circle":
        return [spec.electrode_width] * spec.n_electrodes, math.pi * spec.radius**2
    if spec.kind == "cylinder":
        sizes = []
        for ring in spec.rings:
            size = (
                circular_patch_area(spec.radius, ring.electrode_radius)
                if ring.shape == "circle"
                else ring.electrode_width * ring.electrode_height
            )
            sizes += [size] * ring.n_electrodes
        return sizes, math.pi * spec.radius**2 * spec.height
    if spec.kind in ("contour", "extruded"):
        # Arc electrodes: their arc length; rectangles: width x height (exact on
        # any wall); circles: pi r^2 (exact on a flat wall, a little more on a curved one).
        sizes = []
        for ring in spec.rings:
            exact = {
                "point": 0.0,
                "arc": ring.width,
                "rectangle": ring.width * ring.height,
                "circle": math.pi * ring.radius**2,
            }[ring.shape]
            sizes += [exact] * ring.n_electrodes
        area = spec.outline.area
        return sizes, area if spec.kind == "contour" else area * spec.height
    if spec.kind == "ball":
        size = spherical_cap_area(spec.radius, spec.electrode_radius) if spec.electrode_radius else 0.0
        return [size] * spec.n_electrodes, 4 / 3 * math.pi * spec.radius**3
    lo, hi = spec.box()
    w = spec.electrode_width
    size = w if spec.dim == 2 else math.pi * (w / 2) ** 2
    return [size] * spec.n_electrodes, math.prod(b - a for a, b in zip(lo, hi, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for .vtu files")
    args = parser.parse_args()
    failed = False
    print(f"{'spec':24s} {'elements':>9s} {'electrode err':>14s} {'domain err':>11s} {'seconds':>8s}")
    for path in sorted(GEOMETRIES.glob("*.toml")):
        spec = fe.load_spec(path)
        mesh = fe.mesh_from_spec(spec)
        sizes, measure = exact_sizes(spec)
        electrode_err = max(
            (abs(e.size - s) / s for e, s in zip(mesh.electrodes, sizes, strict=True) if s > 0), default=0.0
        )
        domain_err = abs(mesh.measure() - measure) / measure
        limit = 0.005 if mesh.dim == 2 else 0.02
        ok = electrode_err <= limit and domain_err <= 0.01
        failed |= not ok
        print(
            f"{path.stem:24s} {mesh.n_elements:9d} {electrode_err:14.2e} {domain_err:11.2e} "
            f"{mesh.info['seconds']:8.2f}{'' if ok else '  FAILED'}"
        )
        if args.out:
            fe.write_mesh(mesh, args.out / f"{path.stem}.vtu")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
