"""3D ERT on the laboratory tank's electrode layout: simulated readings, femeit's 3D Gauss-Newton.

Run:  python validation/ert_tank3d.py [-o validation/out] [--quick]

The file ``tests/data/ert/modeltank.shm`` (pyGIMLi example data,
``gimli-org/example-data``, folder ``ert/``, commit
3bab9c6b96a606e2ca12cbdafc8c7da4f1b73c67; providers in
``tests/data/ert/README.md``) holds 48 electrode positions (two lines of 24
at 4 cm, y = 0 and y = 0.5 m, on z = 0) and 588 four-electrode
configurations, but NO readings (columns a b m n only).  So the readings
here are SIMULATED; the file supplies the electrode layout and the protocol,
read with :func:`femeit.ert.read_unified`.

* Tank (our choice; the file gives no walls): the box x in [0, 0.99] m
  (3.5 cm beyond the end electrodes, their spacing suggests a 99 cm tank),
  y in [-0.05, 0.55] m (5 cm beyond each line), depth 0.5 m, electrodes on
  the water surface z = 0; all faces insulating
  (:func:`femeit.ert.halfspace_mesh_3d` with ``domain``).
* Truth: 100 ohm m water with a 10 ohm m block x in [0.40, 0.60], y in
  [0.15, 0.35], z in [-0.20, -0.05] m (between the lines, where only the
  cross-line configurations see it).
* Data: P2 point electrodes (``ForwardModel(electrode_model="point",
  order=2)``) on a fine mesh that follows the block (element size 1 cm at
  the electrodes, growth 0.3), plus 2 % Gaussian noise (seed 0).
* Inversion: P1 on a coarser mesh blind to the block (1.5 cm, growth 0.45),
  :func:`femeit.inverse.gauss_newton.invert_model` with ln|R| data, std 2 %,
  first-difference smoothness across the tetrahedra's faces, lambda from its
  trace ratio cooled by 0.5, stop at chi^2 <= 1, at most 10 iterations,
  from the homogeneous model of the median apparent resistivity (numeric
  geometric factors of the inversion mesh).

Reports chi^2 per iteration, iterations, time, the correlation coefficient
(CC) of the image with the true log-conductivity at the inversion mesh's
centroids (over the region between and under the lines, z > -0.3 m) and the
median resistivity inside the block against outside.  Writes
``ert_tank3d.md``; exits non-zero when chi^2 <= 1.2 is not reached within 10
iterations.  ``--quick``: coarser meshes (same checks).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "tests" / "data" / "ert" / "modeltank.shm"
TANK = (0.0, 0.99, -0.05, 0.55, -0.5)
BLOCK = (0.40, 0.60, 0.15, 0.35, -0.20, -0.05)
RHO_WATER, RHO_BLOCK = 100.0, 10.0
NOISE = 0.02
CHI2_LIMIT = 1.2
MAX_ITER = 10
# (near size m, growth) of the data mesh and of the inversion mesh
MESHES = {"full": ((0.01, 0.3), (0.015, 0.45)), "quick": ((0.015, 0.4), (0.02, 0.6))}


def inside_block(c: np.ndarray) -> np.ndarray:
    """Whether points (n, 3) lie in the block."""
    x0, x1, y0, y1, z0, z1 = BLOCK
    return (c[:, 0] > x0) & (c[:, 0] < x1) & (c[:, 1] > y0) & (c[:, 1] < y1) & (c[:, 2] > z0) & (c[:, 2] < z1)


def truth(c: np.ndarray) -> np.ndarray:
    """True conductivity at points (n, 3), S/m."""
    return np.where(inside_block(c), 1.0 / RHO_BLOCK, 1.0 / RHO_WATER)


def run(mode: str = "full", seed: int = 0) -> dict:
    from femeit.ert import read_unified
    from femeit.ert.mesh3d import halfspace_mesh_3d
    from femeit.forward.model import ForwardModel
    from femeit.inverse.gauss_newton import invert_model

    data = read_unified(FILE)
    if data.columns:
        raise RuntimeError(f"{FILE.name} now holds readings ({sorted(data.columns)}): use them instead")
    protocol = data.protocol()
    (near_f, growth_f), (near_c, growth_c) = MESHES[mode]
    t0 = time.perf_counter()
    fine = halfspace_mesh_3d(data.sensors, near_size=near_f, growth=growth_f, domain=TANK, boxes=[BLOCK])
    centroids_f = fine.mesh.p[:, fine.mesh.t].mean(axis=1).T
    clean = ForwardModel(fine, protocol, electrode_model="point", order=2).simulate(truth(centroids_f))
    rng = np.random.default_rng(seed)
    readings = clean * (1.0 + NOISE * rng.standard_normal(len(clean)))
    t_data = time.perf_counter() - t0

    t0 = time.perf_counter()
    coarse = halfspace_mesh_3d(data.sensors, near_size=near_c, growth=growth_c, domain=TANK)
    model = ForwardModel(coarse, protocol, electrode_model="point", order=1)
    k = 1.0 / model.simulate(1.0)  # numeric geometric factors of the inversion mesh (1 ohm m)
    rho0 = float(np.median(readings * k))
    res = invert_model(model, readings, NOISE * np.abs(readings), sigma0=1.0 / rho0, log_data=True, max_iter=MAX_ITER)
    t_inv = time.perf_counter() - t0

    c = coarse.mesh.p[:, coarse.mesh.t].mean(axis=1).T
    region = (c[:, 1] > -0.02) & (c[:, 1] < 0.52) & (c[:, 2] > -0.3)
    m_true = np.log(truth(c))
    cc = float(np.corrcoef(res.log_conductivity[region], m_true[region])[0, 1])
    rho = 1.0 / res.conductivity
    return {
        "mode": mode,
        "n_data": protocol.n_rows,
        "n_electrodes": len(data.sensors),
        "fine_tets": fine.mesh.t.shape[1],
        "coarse_tets": coarse.mesh.t.shape[1],
        "clean_range": (float(np.abs(clean).min()), float(np.abs(clean).max())),
        "rho0": rho0,
        "result": res,
        "cc": cc,
        "rho_in": float(np.median(rho[inside_block(c)])),
        "rho_out": float(np.median(rho[region & ~inside_block(c)])),
        "data_s": t_data,
        "invert_s": t_inv,
        "ok": bool(res.chi2[-1] <= CHI2_LIMIT and res.iterations <= MAX_ITER),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--quick", action="store_true", help="coarser meshes")
    args = parser.parse_args()
    if not FILE.exists():
        print(f"blocked: {FILE} not found (the example data ship with the source checkout, not the wheel)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    r = run("quick" if args.quick else "full")
    res = r["result"]
    lines = [
        "# 3D ERT on the tank layout of modeltank.shm (validation/ert_tank3d.py)",
        "",
        f"The readings are SIMULATED: {FILE.name} holds {r['n_electrodes']} electrodes and {r['n_data']} "
        "configurations but no readings.",
        "",
        f"Tank (our choice): x [{TANK[0]:g}, {TANK[1]:g}] m, y [{TANK[2]:g}, {TANK[3]:g}] m, depth {-TANK[4]:g} m, "
        f"insulating; {RHO_WATER:g} ohm m with a {RHO_BLOCK:g} ohm m block x [{BLOCK[0]:g}, {BLOCK[1]:g}], "
        f"y [{BLOCK[2]:g}, {BLOCK[3]:g}], z [{BLOCK[4]:g}, {BLOCK[5]:g}] m.",
        f"Data: P2 on {r['fine_tets']} tetrahedra following the block, {100 * NOISE:g} % noise "
        f"(|R| {r['clean_range'][0]:.3g}-{r['clean_range'][1]:.3g} ohm). Inversion: P1 on {r['coarse_tets']} "
        f"tetrahedra blind to the block, start {r['rho0']:.3g} ohm m ({r['mode']} meshes).",
        "",
        "| iterations | chi^2 per iteration | CC log sigma | rho in block / around (ohm m) | data s | invert s |",
        "|---|---|---|---|---|---|",
        f"| {res.iterations} | {', '.join(f'{c:.3g}' for c in res.chi2)} | {r['cc']:.3f} | "
        f"{r['rho_in']:.3g} / {r['rho_out']:.3g} | {r['data_s']:.1f} | {r['invert_s']:.1f} |",
        "",
        f"Result: {'PASS' if r['ok'] else 'FAIL'} (chi^2 <= {CHI2_LIMIT:g} within {MAX_ITER} iterations)",
    ]
    name = "ert_tank3d_quick.md" if args.quick else "ert_tank3d.md"
    (args.out / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
