"""Every registry solver at its automatic default on generated cases nobody tuned to.

Seeded random phantoms, data simulated on a finer mesh than the one inverted
on (no inverse crime), noise from a known noise model that the solvers are
given (:class:`femeit.noise_model.NoiseModel`):

* 2D: a 16-electrode unit disk (adjacent protocol, 208 readings), 1-4 objects
  (circles, ellipses, polygons), each conductive or resistive (contrast 2-5 or
  1/5-1/2), noise std ``p |v_ref,i|`` plus a floor ``0.1 p mean|v_ref|`` with
  p = 0.1, 0.3, 1 %, and the voltage readings of 0, 2 or 4 random electrodes
  missing (masked).  60 cases (16 in ``--quick``).
* 3D: a cylinder with one ring of 16 electrodes, 1-2 balls near the ring's
  plane, both signs, 0.3 % noise; 20 cases (4 in ``--quick``).

Scores: the correlation coefficient CC between the true conductivity change on
the grid and the image; per solver the mean, 10th percentile and minimum CC,
and the median time per frame after the solver is built (the build, with its
SVD, is done once).

Targets (each reported as met or missed, with the figure; ``--strict`` makes a
miss fail the run).  They are the acceptance targets of the solver-contract
work, not all met yet, so they are reported rather than made to pass:

* every solver's mean CC >= 0.75 and 10th percentile >= 0.5 in 2D
  (backprojection is exempt and its figure reported: it has no parameter to
  choose, so no automatic default, and the printed method, Gasulla 2005 eqs.
  20-21, is a sensitivity-weighted average of the relative data that smears
  every change along its equipotential bands; making it sharper would make
  it another method);
* SMDR's mean CC >= Tikhonov's in 2D.

Check (exit status 1 if it fails): no automatic choice returns an empty or
all-noise image: on every case the image is finite and non-zero, and the
image's CC with the truth is above 0.2 (an all-noise image correlates at about
0 with a random phantom).  Backprojection makes no automatic choice and is
reported, not checked.

Run: ``python validation/generalisation.py [--quick] [-o folder]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import femeit as fe
from femeit import metrics
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid, VoxelGrid
from femeit.inverse.base import CLASSICAL, build
from femeit.noise_model import NoiseModel
from femeit.phantom import Phantom, Sphere
from femeit.protocol import Protocol

SOLVERS = tuple(s for s in CLASSICAL if s != "marquardt")  # marquardt is tikhonov's alias
NOISE_PERCENT = (0.1, 0.3, 1.0)
REMOVED = (0, 2, 4)
EXEMPT = ("backprojection",)
MEAN_FLOOR, P10_FLOOR, CASE_FLOOR = 0.75, 0.5, 0.2


@dataclass(frozen=True)
class Ellipse:
    """``((x - c) R)' diag(1/a^2, 1/b^2) ((x - c) R) <= 1`` in 2D."""

    centre: tuple
    axes: tuple
    angle: float
    dim: int = 2

    def contains(self, points):
        c, s = np.cos(self.angle), np.sin(self.angle)
        d = np.asarray(points) - np.asarray(self.centre)
        u, v = d[:, 0] * c + d[:, 1] * s, -d[:, 0] * s + d[:, 1] * c
        return (u / self.axes[0]) ** 2 + (v / self.axes[1]) ** 2 <= 1


@dataclass(frozen=True)
class Polygon:
    """A star-shaped polygon (vertices around a centre), even-odd point test."""

    vertices: tuple
    dim: int = 2

    def contains(self, points):
        p = np.asarray(points)
        v = np.asarray(self.vertices)
        inside = np.zeros(len(p), dtype=bool)
        for (x1, y1), (x2, y2) in zip(v, np.roll(v, -1, axis=0), strict=True):
            crosses = (y1 > p[:, 1]) != (y2 > p[:, 1])
            with np.errstate(divide="ignore", invalid="ignore"):
                x_at = x1 + (p[:, 1] - y1) * (x2 - x1) / (y2 - y1)
            inside ^= crosses & (p[:, 0] < x_at)
        return inside


def _value(rng) -> float:
    return float(rng.uniform(2, 5) if rng.random() < 0.5 else 1 / rng.uniform(2, 5))


def random_phantom_2d(rng) -> Phantom:
    """1-4 non-overlapping objects inside radius 0.8 of the unit disk."""
    n = int(rng.integers(1, 5))
    shapes, placed = [], []
    while len(shapes) < n:
        r = rng.uniform(0.12, 0.3)
        rc = rng.uniform(0, 0.85 - r)
        phi = rng.uniform(0, 2 * np.pi)
        c = np.array([rc * np.cos(phi), rc * np.sin(phi)])
        if any(np.linalg.norm(c - c2) < r + r2 + 0.05 for c2, r2 in placed):
            continue
        placed.append((c, r))
        kind = rng.integers(3)
        if kind == 0:
            shape = Sphere(tuple(c), r)
        elif kind == 1:
            shape = Ellipse(tuple(c), (r, r * rng.uniform(0.4, 0.9)), float(rng.uniform(0, np.pi)))
        else:
            k = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, k))
            radii = r * rng.uniform(0.6, 1.0, k)
            shape = Polygon(tuple(map(tuple, c + np.column_stack([radii * np.cos(angles), radii * np.sin(angles)]))))
        shapes.append((shape, _value(rng)))
    return Phantom(1.0, tuple(shapes))


def placed_balls(rng, n: int, radius: float, z0: float, size, off_axis: float, dz: float, gap: float = 0.0):
    """Yield ``n`` non-overlapping balls (centre, r) in a cylinder of radius ``radius``, drawn one at a time.

    r = U(size) R, the centre within ``off_axis`` R of the axis and ``dz`` R of z0;
    a ball closer than ``gap`` R to an earlier one is drawn again.  A generator, so
    the caller may draw from ``rng`` between balls (its shape, its value).
    """
    placed: list = []
    while len(placed) < n:
        r = rng.uniform(*size) * radius
        rc = rng.uniform(0, off_axis) * radius
        phi = rng.uniform(0, 2 * np.pi)
        c = np.array([rc * np.cos(phi), rc * np.sin(phi), z0 + rng.uniform(-dz, dz) * radius])
        if any(np.linalg.norm(c - c2) < r + r2 + gap * radius for c2, r2 in placed):
            continue
        placed.append((c, r))
        yield c, r


def random_phantom_3d(rng, radius: float, z0: float) -> Phantom:
    """1-2 balls of radius 0.2-0.3 R, centred within 0.6 R of the axis, near the ring's plane."""
    n = int(rng.integers(1, 3))
    balls = placed_balls(rng, n, radius, z0, size=(0.2, 0.3), off_axis=0.6, dz=0.1)
    return Phantom(1.0, tuple((Sphere(tuple(c), r), _value(rng)) for c, r in balls))


def noise_model(reference: np.ndarray, percent: float, mask=None) -> NoiseModel:
    """std_i = sqrt((p |v_ref,i|)^2 + (0.1 p mean|v_ref|)^2)."""
    p = percent / 100
    return NoiseModel(absolute=0.1 * p * np.abs(reference).mean(), relative=p, mask=mask)


def removed_mask(protocol: Protocol, electrodes) -> np.ndarray:
    """Readings whose voltage electrodes M or N are among ``electrodes`` are missing."""
    m, n = protocol.abmn[:, 2], protocol.abmn[:, 3]
    return ~(np.isin(m, electrodes) | np.isin(n, electrodes))


def setup_2d():
    """(coarse mesh, fine mesh, protocol, grid, jacobian, model reference, fine model)."""

    def spec(h, he):
        return fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.1, h=h, h_electrode=he)

    mesh, fine = fe.mesh_from_spec(spec(0.08, 0.03)), fe.mesh_from_spec(spec(0.045, 0.015))
    protocol = Protocol.adjacent(16)
    model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
    grid = PixelGrid(mesh, shape=(32, 32), min_fraction=0.5)
    return mesh, fine, protocol, grid, model.jacobian(1.0, basis=grid.P), model.simulate(1.0), fine_model


def setup_3d(h: float = 0.016, h_fine: float = 0.011):
    """The 3D cases' cylinder (one ring of 16): inversion mesh of size ``h``, data mesh ``h_fine``."""
    radius, height = 0.1, 0.1
    ring = fe.ElectrodeRing(z=0.05, n_electrodes=16, shape="circle", electrode_radius=0.01)

    def spec(h):
        return fe.CylinderSpec(radius=radius, height=height, rings=(ring,), h=h)

    mesh, fine = fe.mesh_from_spec(spec(h)), fe.mesh_from_spec(spec(h_fine))
    protocol = Protocol.adjacent(16)
    model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
    grid = VoxelGrid(mesh, shape=(12, 12, 6), min_fraction=0.5)
    return mesh, fine, protocol, grid, model.jacobian(1.0, basis=grid.P), model.simulate(1.0), fine_model


def cases(dim: int, n: int, seed: int, setup) -> list[dict]:
    """Generate n seeded cases: phantom, true change on the grid, data, noise model."""
    mesh, fine, protocol, grid, _, _, fine_model = setup
    rng = np.random.default_rng(seed)
    v_ref = fine_model.simulate(1.0)
    out = []
    for i in range(n):
        if dim == 2:
            phantom = random_phantom_2d(rng)
            percent = NOISE_PERCENT[i % 3]
            removed = REMOVED[(i // 3) % 3]
        else:
            phantom = random_phantom_3d(rng, 0.1, 0.05)
            percent, removed = 0.3, 0
        electrodes = rng.choice(16, size=removed, replace=False)
        mask = removed_mask(protocol, electrodes)
        noise = noise_model(v_ref, percent, mask if removed else None)
        clean = fine_model.simulate(phantom.on_mesh(fine))
        v = clean + noise.std(v_ref) * rng.standard_normal(len(clean))
        v[~mask] = np.nan  # missing readings are not there at all
        out.append(
            {
                "truth": phantom.on_grid(grid, mesh) - 1.0,
                "dv": v - v_ref,
                "noise": noise,
                "percent": percent,
                "removed": removed,
                "objects": len(phantom.inclusions),
            }
        )
    return out


def evaluate(setup, case_list, solvers) -> dict:
    """CC and time per frame of every solver on every case: {solver: (cc array, seconds array, params list)}."""
    _, _, _, grid, jac, reference, _ = setup
    results = {}
    for name in solvers:
        ccs, secs, used = [], [], []
        for case in case_list:
            # Each case has its own noise model (level, missing readings): build per case.
            solver = build(name, jac, grid=grid, noise=case["noise"], reference=reference)
            rec = solver(case["dv"])
            x = rec.x
            if not np.all(np.isfinite(x)) or not np.any(x):
                ccs.append(-1.0)  # an empty or broken image fails the per-case check
            else:
                ccs.append(metrics.correlation_coefficient(case["truth"], x))
            secs.append(rec.seconds)
            used.append(dict(rec.params))
        results[name] = (np.array(ccs), np.array(secs), used)
    return results


def table(results: dict, title: str) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| solver | mean CC | 10th pct CC | min CC | ms / frame | rules used |",
        "|---|---|---|---|---|---|",
    ]
    for name, (cc, sec, used) in results.items():
        rules = sorted({u.get("rule", u.get("stop", "-")) for u in used})
        lines.append(
            f"| {name} | {cc.mean():.3f} | {np.percentile(cc, 10):.3f} | {cc.min():.3f} | "
            f"{1000 * np.median(sec):.2f} | {', '.join(map(str, rules))} |"
        )
    return [*lines, ""]


def target_misses(res2: dict) -> list[str]:
    """The acceptance targets that are missed, each named with its figure."""
    misses = []
    for name, (cc, _, _) in res2.items():
        if name not in EXEMPT and (cc.mean() < MEAN_FLOOR or np.percentile(cc, 10) < P10_FLOOR):
            misses.append(f"2D {name}: mean CC {cc.mean():.3f}, 10th percentile {np.percentile(cc, 10):.3f}")
    if "smdr" in res2 and "tikhonov" in res2 and res2["smdr"][0].mean() < res2["tikhonov"][0].mean():
        misses.append(f"2D: SMDR mean CC {res2['smdr'][0].mean():.3f} < Tikhonov {res2['tikhonov'][0].mean():.3f}")
    return misses


def checks(res2: dict, res3: dict) -> list[str]:
    """Failures of the per-case check: an empty or all-noise image from an automatic choice."""
    failures = []
    for dim, res in (("2D", res2), ("3D", res3)):
        for name, (cc, _, _) in res.items():
            if name in EXEMPT:
                continue
            bad = np.flatnonzero(cc < CASE_FLOOR)
            if bad.size:
                failures.append(f"{dim} {name}: empty or all-noise image (CC < {CASE_FLOOR}) on cases {bad.tolist()}")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 2D and 4 3D cases")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--solvers", nargs="*", default=list(SOLVERS))
    parser.add_argument("--strict", action="store_true", help="a missed target fails the run too")
    parser.add_argument("-o", "--output", default="validation-out/generalisation")
    args = parser.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    n2, n3 = (16, 4) if args.quick else (60, 20)
    start = time.perf_counter()
    s2 = setup_2d()
    res2 = evaluate(s2, cases(2, n2, args.seed, s2), args.solvers)
    s3 = setup_3d() if n3 else None
    res3 = evaluate(s3, cases(3, n3, args.seed + 1, s3), args.solvers) if n3 else {}
    failures = checks(res2, res3)
    misses = target_misses(res2)
    lines = [
        "# Generalisation: every solver's automatic default on unseen random phantoms",
        "",
        f"Seed {args.seed}; {n2} 2D cases (16-electrode disk, {s2[3].n_params} pixels, data from a finer mesh, "
        f"noise {NOISE_PERCENT} %, 0/2/4 electrodes' readings missing) and {n3} 3D cases "
        "(cylinder, one ring of 16 electrodes, balls, 0.3 % noise).  The solvers get the true noise model; "
        "their parameters come from the default rule (discrepancy, safeguarded L-curve / GCV fallback); "
        "Tikhonov, TSVD, Landweber and SMDR use their default prior ('auto': NOSER diag(S'S) on the 2D grid, "
        "the identity on the 3D grid).",
        "",
        *table(res2, "2D"),
        *(table(res3, "3D") if n3 else []),
        f"Targets: mean CC >= {MEAN_FLOOR} and 10th percentile >= {P10_FLOOR} in 2D (exempt: {', '.join(EXEMPT)}); "
        "SMDR mean >= Tikhonov mean.",
        "",
        ("All targets met." if not misses else "Targets MISSED (open work):\n\n" + "\n".join(f"- {m}" for m in misses)),
        "",
        f"Check: every image finite, non-zero and CC >= {CASE_FLOOR} on every case.",
        "",
        ("Check passes." if not failures else "FAILED:\n\n" + "\n".join(f"- {f}" for f in failures)),
        "",
        f"{time.perf_counter() - start:.0f} s.",
    ]
    name = "generalisation_quick.md" if args.quick else "generalisation.md"
    (out / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures or (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
