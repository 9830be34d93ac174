"""femeit's Gauss-Newton ERT imaging against pyGIMLi's ERTManager on the field profiles, one machine, one run.

Run:  python benchmarks/ert_pygimli.py [--gimli-python /tmp/venv-gimli/bin/python] [--profile NAME]

pyGIMLi is a benchmark-only comparator, never a femeit dependency; install it
in a virtual environment of its own::

    python3 -m venv /tmp/venv-gimli && /tmp/venv-gimli/bin/pip install pygimli scipy

For each profile (``validation/field_ert.py``'s data, error model and mesh):

1. femeit's own default: automatic lambda (cooled from its trace ratio),
   stop at chi^2 <= 1 (reported for reference);
2. the matched lambda: the fixed lambda whose converged chi^2 is 1 (the
   discrepancy principle), found by femeit (``discrepancy_lambda``: a secant
   in log lambda - log chi^2 over full fixed-lambda inversions; its tries and
   time are reported, not counted in the comparison);
3. the comparison, both programs from the same homogeneous start (median
   apparent resistivity) at that lambda, kept fixed, with no stop at
   chi^2 = 1 (switched off in both), iterating until Phi decreases by less
   than 1 % (pyGIMLi's ``dPhi=1``, femeit's ``tolerance=0.01``; pyGIMLi
   always makes at least 3) or 20 iterations.

Matched: the same resistances (the file's ``r`` or ``u / i``, or ``rhoa``
over femeit's numeric geometric factor) and relative errors (3 % for the
slag dump and the lime tree, the files' ``err`` otherwise), log data and
log-resistivity parameters, the same triangle mesh (femeit's graded mesh is
handed to pyGIMLi: every triangle is a parameter, surface edges insulating,
the far edges mixed; the lime tree's closed outline insulating all round),
the same first-difference operator on its edges (pyGIMLi's zWeight
convention; the benchmark checks that pyGIMLi's constraint weights equal
femeit's row weights), the same lambda.  Each program's own: the forward
discretisation (femeit P2 on the mesh with 14 wavenumbers; pyGIMLi its
default, the mesh refined once (4 x the triangles) for the forward
solves, and numeric geometric factors on a P2 mesh), the Gauss-Newton
solver and line search.

Wall time: femeit's data, mesh, model and fixed-lambda inversion; pyGIMLi's
data, mesh import, geometric factors and inversion (imports not counted;
pyGIMLi's caching switched off, its solver threads set to 1 as its 1.6.1
needs on a 2-core machine, BLAS limited to one thread for both).  The
section agreement: the correlation coefficient of log10 resistivity over
femeit's well-covered triangles (coverage within 2.5 decades of its
maximum), cell by cell on the shared mesh.

Writes ``benchmarks/out/ert_pygimli.md`` and ``.json``.
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

PROFILES = ["slagdump", "gallery", "bedrock", "limetree"]

# Runs in pyGIMLi's interpreter: argv = data file, mesh .npz, lambda, zWeight, max iterations, output .npz.
GIMLI_SCRIPT = r"""
import sys, time
import numpy as np
import pygimli as pg
from pygimli.physics import ert
from pygimli.utils.cache import noCache
noCache(True)  # pyGIMLi caches geometric factors on disk between runs: off, for honest timings
path, meshfile, lam, zweight, maxiter, refine, out = sys.argv[1:8]
t0 = time.perf_counter()  # after the imports, as femeit's timing
z = np.load(meshfile)
data = ert.load(path)
mesh = pg.Mesh(2)
for x, y in z["p"]:
    mesh.createNode([x, y])
for tri in z["t"]:
    mesh.createTriangle(*[mesh.node(int(i)) for i in tri], marker=2)
mesh.createNeighbourInfos()
far = set(map(tuple, np.sort(z["facets"][z["far"]], axis=1)))
for b in mesh.boundaries():
    if b.outside():  # -1: insulating surface; -2: mixed (far) boundary
        key = tuple(sorted([b.node(0).id(), b.node(1).id()]))
        b.setMarker(-2 if key in far else -1)
data["k"] = ert.createGeometricFactors(data, numerical=True, mesh=mesh)
data["rhoa"] = z["R"] * np.array(data["k"])
data["err"] = z["std"] / np.abs(z["R"])
mgr = ert.ERTManager(data)
mgr.fop._refineH2 = refine == "h2"  # pyGIMLi's default: refined once for the forward solves
mgr.setMesh(mesh)
mgr.fop._core.setThreadCount(1)
mgr.invert(lam=float(lam), lambdaFactor=1.0, zWeight=float(zweight), maxIter=int(maxiter), dPhi=1.0,
           stopAtChi1=False, startModel=float(np.median(np.array(data["rhoa"]))), verbose=False)
seconds = time.perf_counter() - t0
np.savez(out, rho=np.array(mgr.paraModel()), chi2=np.array(mgr.inv.chi2History), seconds=seconds,
         cells=mgr.paraDomain.cellCount(), fwd_cells=mgr.fop.mesh().cellCount(),
         cweight=np.array(mgr.inv.inv.cWeight()), centres=np.array(mgr.paraDomain.cellCenters())[:, :2])
"""


def run_gimli(python: str, name: str, run: dict, lam: float, tmp: Path) -> dict:
    from field_ert import DATA
    from field_ert import PROFILES as CFG

    mesh = run["mesh"]
    m = mesh.mesh
    far = np.zeros(m.facets.shape[1], dtype=bool)
    far[mesh.far_facets] = True
    meshfile = tmp / f"{name}_mesh.npz"
    np.savez(meshfile, p=m.p.T, t=m.t.T, facets=m.facets.T, far=far, R=run["resistance"], std=run["std"])
    script = tmp / "gimli_run.py"
    script.write_text(GIMLI_SCRIPT)
    out = tmp / f"{name}.npz"
    cmd = [python, str(script), str(DATA / CFG[name]["file"]), str(meshfile), repr(lam)]
    cmd += [repr(float(CFG[name]["zweight"])), "20", "h2", str(out)]
    proc = subprocess.run(
        cmd,
        cwd=tmp,  # pyGIMLi writes diagnostic files into its working directory
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pyGIMLi failed on {name}:\n{proc.stderr[-3000:]}")
    z = np.load(out)
    return {k: z[k] for k in z.files}


def compare(name: str, gim: dict, run: dict) -> dict:
    """Section agreement on the shared mesh, the check of the smoothness weights, the borehole."""
    from field_ert import PROFILES as CFG
    from field_ert import borehole, column, regulariser

    if not np.allclose(gim["centres"], run["mesh"].centroids(), atol=1e-9 * np.ptp(gim["centres"])):
        raise RuntimeError(f"{name}: pyGIMLi's parameter cells are not femeit's triangles")
    reg = regulariser(run["mesh"], CFG[name]["zweight"])
    weights = abs(reg).max(axis=1).toarray().ravel()
    use = run["covered"]
    cc = float(np.corrcoef(np.log10(run["rho"][use]), np.log10(gim["rho"][use]))[0, 1])
    out = {
        "cc": cc,
        "n_compared": int(use.sum()),
        # the same operator: sorted row weights (the edge order of the two programs differs)
        "weights_max_diff": float(np.max(np.abs(np.sort(weights) - np.sort(gim["cweight"])))),
    }
    if name == "bedrock":
        b = borehole(run)
        col = column(run["mesh"], gim["rho"], b["x"], b["z_mesh"])
        out["borehole"] = {
            "depth": b["depth"],
            "log": [b["log_above"], b["log_below"]],
            "femeit": [b["section_above"], b["section_below"]],
            "pygimli": [float(np.median(col[b["above"]])), float(np.median(col[b["below"]]))],
        }
    return out


def bedrock_data_errors(args) -> int:
    """Both programs on bedrock with the data's error model (lambda 10 residual fit) at its discrepancy lambda."""
    from field_ert import borehole, column, discrepancy_lambda, invert, residual_error_model

    fit = residual_error_model(invert("bedrock", lam=10.0, max_iter=20), 10.0)
    base = invert("bedrock", lam=10.0, max_iter=1)
    rel = (fit["a"] + fit["b"] * np.abs(base["resistance"])) / np.abs(base["resistance"])
    lam, run, _ = discrepancy_lambda("bedrock", start=(10.0, 100.0), relative_error=rel)
    with tempfile.TemporaryDirectory() as tmp:
        gim = run_gimli(args.gimli_python, "bedrock", run, lam, Path(tmp))
    b = borehole(run)
    g_col = column(run["mesh"], gim["rho"], b["x"], b["z_mesh"])
    cc = float(np.corrcoef(np.log10(run["rho"][run["covered"]]), np.log10(gim["rho"][run["covered"]]))[0, 1])
    lines = [
        "# bedrock with the error model from the data (benchmarks/ert_pygimli.py --bedrock-data-errors)",
        "",
        f"Errors a = {fit['a']:.3g} ohm + b = {100 * fit['b']:.3g} % |R|; lambda {lam:.3g}; femeit chi^2 "
        f"{run['result'].chi2[-1]:.3g} ({run['result'].iterations} it), pyGIMLi chi^2 {gim['chi2'][-1]:.3g} "
        f"({len(gim['chi2']) - 1} it); CC log10 rho over the covered cells {cc:.3f}.",
        "",
        f"Borehole x = {b['x']:g} m, log contrast at {b['depth']:.1f} m ({b['log_above']:.3g} -> "
        f"{b['log_below']:.3g} ohm m); over the same windows femeit {b['section_above']:.3g} -> "
        f"{b['section_below']:.3g}, pyGIMLi {np.median(g_col[b['above']]):.3g} -> {np.median(g_col[b['below']]):.3g}.",
        "",
        "Column (depth: log, femeit, pyGIMLi, ohm m): "
        + "; ".join(
            f"{-z:.0f} m: {lg:.3g}, {f:.3g}, {g:.3g}"
            for z, lg, f, g in zip(b["z"], b["log"], b["section"], g_col, strict=True)
            if z % 4 == 0
        ),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ert_pygimli_bedrock_errors.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gimli-python", default="/tmp/venv-gimli/bin/python")
    parser.add_argument("--profile", choices=PROFILES, action="append")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument(
        "--bedrock-data-errors",
        action="store_true",
        help="only: both programs on bedrock with the error model estimated from the data (field_ert's bedrock "
        "study) at its chi^2 = 1 lambda, the columns at the borehole",
    )
    args = parser.parse_args()
    if not Path(args.gimli_python).exists():
        print(f"blocked: no pyGIMLi interpreter at {args.gimli_python} (see the docstring to install one)")
        return 2
    if args.bedrock_data_errors:
        return bedrock_data_errors(args)
    from field_ert import discrepancy_lambda, invert

    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# femeit vs pyGIMLi on field ERT profiles (benchmarks/ert_pygimli.py)",
        "",
        "Matched: same mesh, data, errors, operator, fixed lambda (converged chi^2 = 1), 1 % dPhi stop.",
        "",
        "| profile | lambda | femeit chi^2 (iter) | pyGIMLi chi^2 (iter) | chi^2 ratio | femeit s | pyGIMLi s |"
        " speed-up | CC log10 rho (cells) | femeit default: chi^2 (iter), s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    results = {}
    searches = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.profile or PROFILES:
            auto = invert(name)
            t = time.perf_counter()
            lam, _, tries = discrepancy_lambda(name)
            search_s = time.perf_counter() - t
            searches.append(
                f"- {name}: " + ", ".join(f"lambda {a:.3g} -> chi^2 {c:.3g} ({i} it)" for a, c, i in tries)
                + f"; {search_s:.0f} s"
            )
            print(searches[-1], flush=True)
            run = invert(name, lam=lam, max_iter=20)  # the timed femeit run at the matched lambda
            fe_s = run["setup_s"] + run["invert_s"]
            gim = run_gimli(args.gimli_python, name, run, lam, Path(tmp))
            cmp = compare(name, gim, run)
            fe_chi, g_chi = float(run["result"].chi2[-1]), float(gim["chi2"][-1])
            row = {
                "lambda": lam,
                "femeit_chi2": fe_chi,
                "femeit_iter": run["result"].iterations,
                "femeit_chi2_history": run["result"].chi2.tolist(),
                "femeit_s": fe_s,
                "gimli_chi2": g_chi,
                "gimli_iter": len(gim["chi2"]) - 1,
                "gimli_chi2_history": gim["chi2"].tolist(),
                "gimli_s": float(gim["seconds"]),
                "gimli_forward_cells": int(gim["fwd_cells"]),
                "default_chi2": float(auto["result"].chi2[-1]),
                "default_iter": auto["result"].iterations,
                "default_s": auto["setup_s"] + auto["invert_s"],
                "load": os.getloadavg()[0],
                **cmp,
            }
            results[name] = row
            lines.append(
                f"| {name} | {lam:.3g} | {fe_chi:.3g} ({row['femeit_iter']}) | {g_chi:.3g} ({row['gimli_iter']}) | "
                f"{fe_chi / g_chi:.3f} | {fe_s:.1f} | {row['gimli_s']:.1f} | {row['gimli_s'] / fe_s:.2f}x | "
                f"{cmp['cc']:.3f} ({cmp['n_compared']}) | {row['default_chi2']:.3g} ({row['default_iter']}), "
                f"{row['default_s']:.1f} |"
            )
            print(lines[-1], f"load {row['load']:.1f}", flush=True)
    lines += ["", "Discrepancy-lambda search (femeit, fixed-lambda inversions, not timed above):", *searches]
    lines += ["", "chi^2 per iteration (femeit / pyGIMLi):"]
    for name, row in results.items():
        f = ", ".join(f"{c:.3g}" for c in row["femeit_chi2_history"])
        g = ", ".join(f"{c:.3g}" for c in row["gimli_chi2_history"])
        lines.append(f"- {name}: {f} / {g}; smoothness weights differ by at most {row['weights_max_diff']:.1e}")
    for name, row in results.items():
        if "borehole" in row:
            b = row["borehole"]
            lines += [
                "",
                f"{name} borehole: log contrast at {b['depth']:.1f} m depth, median {b['log'][0]:.3g} -> "
                f"{b['log'][1]:.3g} ohm m (8 m windows above/below); femeit {b['femeit'][0]:.3g} -> "
                f"{b['femeit'][1]:.3g}; pyGIMLi {b['pygimli'][0]:.3g} -> {b['pygimli'][1]:.3g}.",
            ]
    loads = ", ".join(f"{n} {r['load']:.1f}" for n, r in results.items())
    lines += ["", f"load average (1 min) after each profile: {loads} (2 cores shared)"]
    (args.out / "ert_pygimli.md").write_text("\n".join(lines) + "\n")
    (args.out / "ert_pygimli.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
