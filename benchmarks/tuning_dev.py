"""The DEV set on which the automatic rules of femeit.inverse were chosen (issue 17).

Not the validation benchmark: ``validation/generalisation.py`` reports the
rules on its own seeded cases, and nothing was tuned on those.  This set uses
a different generator and seed: 1-4 disks, axis-aligned boxes and ellipses
(radius 0.1-0.35, contrast 1.5-6 or its inverse), data from a finer mesh than
the benchmark's (h = 0.04), noise 0.1-1 % log-uniform, 0-4 electrodes'
readings missing (uniform).  The 3D DEV set (``--dim 3``, seed ``SEED + 3``): a
cylinder with one ring of 16 electrodes meshed at other sizes than the
benchmark's, 1-3 balls and boxes of size 0.15-0.35 R within 0.7 R of the axis
and 0.25 R of the ring's plane, contrast 1.5-6 or its inverse, noise 0.1-1 %.

Run: ``python benchmarks/tuning_dev.py [--dim 2|3] [--n 40] [--solvers ...] [--param name=value ...]``
prints mean / 10th percentile / min CC and median ms per frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import femeit as fe
from femeit import metrics
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid
from femeit.inverse.base import CLASSICAL, build
from femeit.phantom import Box, Disk, Phantom, Sphere
from femeit.protocol import Protocol
from validation.generalisation import Ellipse, noise_model, placed_balls, removed_mask, setup_3d

SEED = 90417


def dev_phantom(rng) -> Phantom:
    n = int(rng.integers(1, 5))
    shapes, placed = [], []
    while len(shapes) < n:
        r = rng.uniform(0.1, 0.35)
        rc = rng.uniform(0, 0.88 - r)
        phi = rng.uniform(0, 2 * np.pi)
        c = np.array([rc * np.cos(phi), rc * np.sin(phi)])
        if any(np.linalg.norm(c - c2) < r + r2 + 0.03 for c2, r2 in placed):
            continue
        placed.append((c, r))
        kind = rng.integers(3)
        if kind == 0:
            shape = Disk(tuple(c), r)
        elif kind == 1:
            h = r / np.sqrt(2)
            shape = Box(tuple(c - h * rng.uniform(0.6, 1, 2)), tuple(c + h * rng.uniform(0.6, 1, 2)))
        else:
            shape = Ellipse(tuple(c), (r, r * rng.uniform(0.3, 0.8)), float(rng.uniform(0, np.pi)))
        value = rng.uniform(1.5, 6) if rng.random() < 0.5 else 1 / rng.uniform(1.5, 6)
        shapes.append((shape, float(value)))
    return Phantom(1.0, tuple(shapes))


def setup():
    def spec(h, he):
        return fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.1, h=h, h_electrode=he)

    mesh, fine = fe.mesh_from_spec(spec(0.08, 0.03)), fe.mesh_from_spec(spec(0.04, 0.012))
    protocol = Protocol.adjacent(16)
    model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
    grid = PixelGrid(mesh, shape=(32, 32), min_fraction=0.5)
    return mesh, fine, protocol, grid, model, fine_model


def dev_cases(n: int, seed: int = SEED):
    mesh, fine, protocol, grid, model, fine_model = setup()
    jac, reference = model.jacobian(1.0, basis=grid.P), model.simulate(1.0)
    rng = np.random.default_rng(seed)
    v_ref = fine_model.simulate(1.0)
    out = []
    for _ in range(n):
        phantom = dev_phantom(rng)
        percent = float(10 ** rng.uniform(-1, 0))
        removed = int(rng.integers(0, 5))
        electrodes = rng.choice(16, size=removed, replace=False)
        mask = removed_mask(protocol, electrodes)
        noise = noise_model(v_ref, percent, mask if removed else None)
        clean = fine_model.simulate(phantom.on_mesh(fine))
        v = clean + noise.std(v_ref) * rng.standard_normal(len(clean))
        v[~mask] = np.nan
        out.append({"truth": phantom.on_grid(grid, mesh) - 1.0, "dv": v - v_ref, "noise": noise})
    return grid, jac, reference, out


def dev_phantom_3d(rng, radius: float, z0: float) -> Phantom:
    n = int(rng.integers(1, 4))
    shapes = []
    for c, r in placed_balls(rng, n, radius, z0, size=(0.15, 0.35), off_axis=0.7, dz=0.25, gap=0.02):
        if rng.random() < 0.5:
            shape = Sphere(tuple(c), r)
        else:
            h = r / np.sqrt(3)
            shape = Box(tuple(c - h * rng.uniform(0.6, 1, 3)), tuple(c + h * rng.uniform(0.6, 1, 3)))
        value = rng.uniform(1.5, 6) if rng.random() < 0.5 else 1 / rng.uniform(1.5, 6)
        shapes.append((shape, float(value)))
    return Phantom(1.0, tuple(shapes))


def dev_cases_3d(n: int, seed: int = SEED + 3):
    """3D DEV cases: (grid, jacobian, reference, cases), coarse and fine meshes unlike the benchmark's."""
    # The benchmark's cylinder on coarser meshes (its own sizes, so DEV never sees the benchmark's grid).
    radius = 0.1
    mesh, fine, _, grid, jac, reference, fine_model = setup_3d(h=0.017, h_fine=0.012)
    rng = np.random.default_rng(seed)
    v_ref = fine_model.simulate(1.0)
    out = []
    for _ in range(n):
        phantom = dev_phantom_3d(rng, radius, 0.05)
        noise = noise_model(v_ref, float(10 ** rng.uniform(-1, 0)))
        clean = fine_model.simulate(phantom.on_mesh(fine))
        v = clean + noise.std(v_ref) * rng.standard_normal(len(clean))
        out.append({"truth": phantom.on_grid(grid, mesh) - 1.0, "dv": v - v_ref, "noise": noise})
    return grid, jac, reference, out


def score(grid, jac, reference, cases, name, **params):
    ccs, secs, used = [], [], []
    for case in cases:
        rec = build(name, jac, grid=grid, noise=case["noise"], reference=reference, **params)(case["dv"])
        x = rec.x
        ok = np.all(np.isfinite(x)) and np.any(x)
        ccs.append(metrics.correlation_coefficient(case["truth"], x) if ok else -1.0)
        secs.append(rec.seconds)
        used.append(dict(rec.params))
    return np.array(ccs), np.array(secs), used


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dim", type=int, default=2, choices=(2, 3))
    p.add_argument("--n", type=int, default=None, help="cases (default 40 in 2D, 20 in 3D)")
    p.add_argument("--solvers", nargs="*", default=[s for s in CLASSICAL if s != "marquardt"])
    p.add_argument("--param", nargs="*", default=[])
    args = p.parse_args(argv)
    params = {}
    for kv in args.param:
        k, v = kv.split("=")
        try:
            params[k] = float(v)
        except ValueError:
            params[k] = v
    if args.dim == 2:
        grid, jac, reference, cases = dev_cases(args.n or 40)
    else:
        grid, jac, reference, cases = dev_cases_3d(args.n or 20)
    for name in args.solvers:
        cc, sec, _ = score(grid, jac, reference, cases, name, **params)
        print(
            f"{name:15s} mean {cc.mean():.3f} p10 {np.percentile(cc, 10):.3f} min {cc.min():.3f} "
            f"ms {1000 * np.median(sec):.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
