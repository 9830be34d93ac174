"""femeit's Gauss-Newton ERT imaging against pyGIMLi's ERTManager on the field profiles, one machine, one run.

Run:  python benchmarks/ert_pygimli.py [--gimli-python /tmp/venv-gimli/bin/python] [--profile NAME]

pyGIMLi is a benchmark-only comparator, never a femeit dependency; install it
in a virtual environment of its own::

    python3 -m venv /tmp/venv-gimli && /tmp/venv-gimli/bin/pip install pygimli scipy

This script runs pyGIMLi in that interpreter (a subprocess per profile),
then femeit (``validation/field_ert.py``'s :func:`invert`) here, on the same
data files (``tests/data/ert``), and compares:

* chi^2 and iterations of both;
* wall time of both (data, geometric factors, mesh, inversion; imports not
  counted; pyGIMLi's
  solver threads set to 1, as its 1.6.1 needs on a 2-core machine, and BLAS
  limited to one thread for both);
* the sections: the correlation coefficient of log10 resistivity over femeit's
  well-covered triangles (coverage within 2.5 decades of its maximum) that lie
  inside pyGIMLi's parameter domain, pyGIMLi's cells interpolated linearly at
  femeit's centroids.

Matched settings: the same readings and error model (3 % of |R| for the slag
dump; the files' ``err`` column otherwise), first-order smoothness with the
same vertical weight (zWeight 0.15 for bedrock), log-resistivity parameters
and log data, at most 10 iterations, starting from the median apparent
resistivity.  Not matched (each program's own): the mesh (pyGIMLi's default
parameter mesh and boundary region; femeit's graded half-plane mesh of
``validation/field_ert.py``) and lambda: pyGIMLi keeps lambda fixed (20,
its default; 10 for the slag dump as in its tutorial) and stops at chi^2 <= 1 or
when Phi decreases by < 2 %; femeit cools it and stops at chi^2 <= 1.

The lime tree: both programs mesh the polygon through the sensors (pyGIMLi's
tutorial smooths it with a spline; we do not) and use numeric geometric
factors on that mesh.

Writes ``benchmarks/out/ert_pygimli.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))

GIMLI = {
    "slagdump": {"file": "slagdump.ohm", "error": 0.03, "lam": 10.0, "zweight": 1.0},
    "gallery": {"file": "gallery.dat", "error": None, "lam": 20.0, "zweight": 1.0},
    "bedrock": {"file": "bedrock.dat", "error": None, "lam": 20.0, "zweight": 0.15},
    "limetree": {"file": "hollow_limetree.ohm", "error": 0.03, "lam": 20.0, "zweight": 1.0},
}

# Runs in pyGIMLi's interpreter: argv = data file, relative error or "", lambda, zWeight, output .npz.
GIMLI_SCRIPT = r"""
import sys, time, json
import numpy as np
import pygimli as pg
from pygimli.physics import ert
t0 = time.perf_counter()  # after the imports, as femeit's timing
path, error, lam, zweight, out = sys.argv[1:6]
ring = path.endswith("limetree.ohm")
data = ert.load(path)
mesh = None  # pyGIMLi's default parameter mesh of a surface profile
if ring:  # the cross-section inside the polygon through the sensors, as femeit's closed_mesh
    import pygimli.meshtools as mt
    plc = mt.createPolygon(np.array(data.sensors())[:, :2], isClosed=True)
    mesh = mt.createMesh(plc, quality=33.5)
data["k"] = ert.createGeometricFactors(data, numerical=True, mesh=mesh)
if not data.haveData("rhoa"):
    r = data["r"] if data.haveData("r") else data["u"] / data["i"]
    data["rhoa"] = r * data["k"]
if error:
    data["err"] = pg.Vector(data.size(), float(error))
mgr = ert.ERTManager(data)
if mesh is not None:
    mgr.setMesh(mesh)
mgr.fop._core.setThreadCount(1)
rhoa = np.array(data["rhoa"])
mgr.invert(lam=float(lam), zWeight=float(zweight), maxIter=10, startModel=float(np.median(rhoa)), verbose=False)
seconds = time.perf_counter() - t0
centres = np.array(mgr.paraDomain.cellCenters())
np.savez(out, x=centres[:, 0], z=centres[:, 1], rho=np.array(mgr.paraModel()),
         chi2=np.array(mgr.inv.chi2History), seconds=seconds, cells=mgr.paraDomain.cellCount(),
         nodes=np.array(mgr.paraDomain.positions())[:, :2])
"""


def run_gimli(python: str, name: str, tmp: Path) -> dict:
    cfg = GIMLI[name]
    script = tmp / "gimli_run.py"
    script.write_text(GIMLI_SCRIPT)
    out = tmp / f"{name}.npz"
    t = time.perf_counter()
    proc = subprocess.run(
        [
            python,
            str(script),
            str(ROOT / "tests/data/ert" / cfg["file"]),
            str(cfg["error"] or ""),
            str(cfg["lam"]),
            str(cfg["zweight"]),
            str(out),
        ],
        cwd=tmp,  # pyGIMLi writes diagnostic files into its working directory
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"pyGIMLi failed on {name}:\n{proc.stderr[-3000:]}")
    z = np.load(out)
    return {k: z[k] for k in z.files} | {"wall": wall}


def compare(name: str, gim: dict, run: dict) -> dict:
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    c = run["mesh"].centroids()
    cells = np.column_stack([gim["x"], gim["z"]])
    interp = LinearNDInterpolator(cells, np.log10(gim["rho"]))
    g = interp(c)
    use = run["covered"] & np.isfinite(g)
    cc = float(np.corrcoef(np.log10(run["rho"][use]), g[use])[0, 1])
    out = {"cc": cc, "n_compared": int(use.sum())}
    if name == "bedrock":
        from field_ert import borehole

        b = borehole(run)
        nearest = NearestNDInterpolator(cells, gim["rho"])
        col = nearest(np.full(len(b["z"]), b["x"]), b["z"])
        above = (b["z"] > -b["depth"]) & (b["z"] <= -b["depth"] + 8)
        below = (b["z"] <= -b["depth"]) & (b["z"] > -b["depth"] - 8)
        out["borehole"] = {
            "depth": b["depth"],
            "log": [b["log_above"], b["log_below"]],
            "femeit": [b["section_above"], b["section_below"]],
            "pygimli": [float(np.median(col[above])), float(np.median(col[below]))],
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gimli-python", default="/tmp/venv-gimli/bin/python")
    parser.add_argument("--profile", choices=sorted(GIMLI), action="append")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    if not Path(args.gimli_python).exists():
        print(f"blocked: no pyGIMLi interpreter at {args.gimli_python} (see the docstring to install one)")
        return 2
    from field_ert import invert

    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# femeit vs pyGIMLi on field ERT profiles (benchmarks/ert_pygimli.py)",
        "",
        "| profile | femeit chi^2 (iter) | pyGIMLi chi^2 (iter) | chi^2 ratio | femeit s | pyGIMLi s | speed-up |"
        " CC log10 rho (cells) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.profile or list(GIMLI):
            gim = run_gimli(args.gimli_python, name, Path(tmp))
            run = invert(name)
            fe_s = run["setup_s"] + run["invert_s"]
            cmp = compare(name, gim, run)
            fe_chi, g_chi = float(run["result"].chi2[-1]), float(gim["chi2"][-1])
            row = {
                "femeit_chi2": fe_chi,
                "femeit_iter": run["result"].iterations,
                "femeit_s": fe_s,
                "gimli_chi2": g_chi,
                "gimli_iter": len(gim["chi2"]) - 1,
                "gimli_s": float(gim["seconds"]),
                "gimli_cells": int(gim["cells"]),
                **cmp,
            }
            results[name] = row
            lines.append(
                f"| {name} | {fe_chi:.3g} ({row['femeit_iter']}) | {g_chi:.3g} ({row['gimli_iter']}) | "
                f"{fe_chi / g_chi:.3f} | {fe_s:.1f} | {row['gimli_s']:.1f} | {row['gimli_s'] / fe_s:.2f}x | "
                f"{cmp['cc']:.3f} ({cmp['n_compared']}) |"
            )
            print(lines[-1], flush=True)
    for name, row in results.items():
        if "borehole" in row:
            b = row["borehole"]
            lines += [
                "",
                f"{name} borehole: log contrast at {b['depth']:.1f} m depth, median {b['log'][0]:.3g} -> "
                f"{b['log'][1]:.3g} ohm m (8 m windows above/below); femeit {b['femeit'][0]:.3g} -> "
                f"{b['femeit'][1]:.3g}; pyGIMLi {b['pygimli'][0]:.3g} -> {b['pygimli'][1]:.3g}.",
            ]
    lines += ["", f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores shared)"]
    (args.out / "ert_pygimli.md").write_text("\n".join(lines) + "\n")
    (args.out / "ert_pygimli.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
