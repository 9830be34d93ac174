"""Meshing speed: the figures of the geometry issue's acceptance.

Run:  python benchmarks/meshing.py [--repeat 5]

Reports the median wall time of (a) the 16-electrode disk at about 10k
triangles, (b) the KGPSR-BB cylinder (geometries/kgpsr_cylinder.toml, about 70k
tetrahedra), each meshed by gmsh with the cache off, and (c) a cache hit of the
cylinder.  Times include extracting the mesh into femeit's arrays and building
the scikit-fem mesh.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import femeit as fe

ROOT = Path(__file__).resolve().parent.parent


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    disk = fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.1, h=0.03, h_electrode=0.01)
    cylinder = fe.load_spec(ROOT / "geometries" / "kgpsr_cylinder.toml")
    rows = []
    t, mesh = median_time(lambda: fe.mesh_from_spec(disk, cache=False), args.repeat)
    rows.append(("disk, 16 electrodes", f"{mesh.n_elements} tri", t, 1.0))
    t, mesh = median_time(lambda: fe.mesh_from_spec(cylinder, cache=False), max(1, args.repeat // 2))
    rows.append(("KGPSR-BB cylinder", f"{mesh.n_elements} tet", t, 20.0))
    with tempfile.TemporaryDirectory() as folder:
        fe.mesh_from_spec(cylinder, cache_dir=folder)
        t, mesh = median_time(lambda: fe.mesh_from_spec(cylinder, cache_dir=folder), args.repeat)
        assert mesh.info["cache_hit"]
    rows.append(("cylinder, cache hit", f"{mesh.n_elements} tet", t, 0.2))
    print(f"{'case':24s} {'size':>12s} {'median s':>9s} {'target s':>9s}")
    for name, size, seconds, target in rows:
        print(
            f"{name:24s} {size:>12s} {seconds:9.3f} {target:9.1f}{'' if seconds < target else '  SLOWER THAN TARGET'}"
        )


if __name__ == "__main__":
    main()
