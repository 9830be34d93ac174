"""Build a sensor with gmsh's Python API and read it into femeit: the physical-group contract.

Run:  python examples/gmsh_contract.py [--out DIR]

femeit reads any gmsh mesh whose physical groups follow this contract:

* ``domain``: the background region (surfaces in 2D, volumes in 3D);
* ``inclusion_<name>`` (optional): other regions of the same dimension;
* ``e01`` .. ``eNN``: one group per electrode, numbered from 1 without gaps,
  made of boundary curves (2D) or surfaces (3D), or a single point (a point
  electrode).  femeit numbers electrodes from 0: ``e01`` is electrode 0.

The script builds a 2D square tank with 4 electrodes (straight 1 cm
segments at the middle of the sides) and an elliptical inclusion, writes it as ``contract.msh``, reads it back with
:func:`femeit.read_mesh`, and exits non-zero if an electrode length or the
inclusion area is off (exact values: 0.01 m and pi a b).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import gmsh

import femeit as fe

SIDE, WIDTH = 0.2, 0.01  # square side and electrode length, m
A, B = 0.03, 0.02  # inclusion semi-axes, m


def build(path: Path) -> None:
    """Write the square sensor to ``path`` (.msh)."""
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        occ = gmsh.model.occ
        h = SIDE / 2
        # The boundary is cut at both ends of each electrode, so an electrode is
        # one whole curve: the side midpoints of a square, electrodes centred there.
        corners = [(-h, -h), (h, -h), (h, h), (-h, h)]
        cuts = []
        for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            ux, uy = (x1 - x0) / SIDE, (y1 - y0) / SIDE
            cuts += [(x0, y0), (mx - ux * WIDTH / 2, my - uy * WIDTH / 2), (mx + ux * WIDTH / 2, my + uy * WIDTH / 2)]
        points = [occ.addPoint(x, y, 0.0) for x, y in cuts]
        lines = [occ.addLine(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
        square = occ.addPlaneSurface([occ.addCurveLoop(lines)])
        blob = occ.addDisk(0.03, 0.02, 0.0, A, B)
        _, out_map = occ.fragment([(2, square)], [(2, blob)])
        occ.synchronize()
        inclusion = [t for _, t in out_map[1]]
        domain = sorted({t for _, t in out_map[0]} - set(inclusion))
        gmsh.model.addPhysicalGroup(2, domain, name="domain")
        gmsh.model.addPhysicalGroup(2, inclusion, name="inclusion_blob")
        # Electrode curves: the middle one of each side's three pieces.  The
        # fragment may renumber curves, so find each by its midpoint.
        electrodes = []
        for k in range(4):
            (xa, ya), (xb, yb) = cuts[3 * k + 1], cuts[3 * k + 2]
            mid = ((xa + xb) / 2, (ya + yb) / 2, 0.0)
            curve = min(
                (t for _, t in gmsh.model.getEntities(1)),
                key=lambda t: math.dist(gmsh.model.occ.getCenterOfMass(1, t), mid),
            )
            electrodes.append(curve)
            gmsh.model.addPhysicalGroup(1, [curve], name=f"e{k + 1:02d}")
        gmsh.option.setNumber("Mesh.MeshSizeMax", SIDE / 20)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 64)  # resolves the ellipse
        ends = gmsh.model.getBoundary([(1, t) for t in electrodes], combined=False)
        gmsh.model.mesh.setSize([(0, abs(t)) for _, t in ends], WIDTH / 4)
        gmsh.model.mesh.generate(2)
        gmsh.write(str(path))
    finally:
        gmsh.finalize()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for contract.msh (default a temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    path = out / "contract.msh"
    build(path)
    mesh = fe.read_mesh(path)
    print(mesh.summary())
    lengths = [e.size for e in mesh.electrodes]
    area = mesh.element_measures()[mesh.region("inclusion_blob")].sum()
    length_err = max(abs(s - WIDTH) / WIDTH for s in lengths)
    area_err = abs(area - math.pi * A * B) / (math.pi * A * B)
    print(f"{mesh.n_electrodes} electrodes, worst length error {length_err:.2e}; inclusion area error {area_err:.2e}")
    ok = mesh.n_electrodes == 4 and length_err < 1e-9 and area_err < 0.01
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
