"""femeit's forward beside the floor on every benchmark case, interleaved; writes a section of BENCHMARKS.md.

Run:  python benchmarks/floor_ratio.py [--samples 15] [--no-p2] [--no-one-thread] [-o BENCHMARKS.md]

The floor of a forward solve is the factorisation of the grounded system plus one
solve per current pattern, with the backend ``auto`` picks (the fastest installed
one by the measured crossovers), on matrices assembled beforehand, reusing what
femeit reuses between conductivities of one model (the fill-reducing ordering and
PARDISO's symbolic analysis), without femeit's refinement step
(``timing.floor_factorize``), its right-hand sides handed over as femeit's models
hand theirs (``timing.as_given_by_models``).  femeit's forward is ``model.simulate`` on a new
conductivity: validation, assembly, factorisation, the pattern solves, the
readings (for PARDISO corrected by the solves' adjoint-weighted residual, which
gives them the accuracy of a refined solve).  For PARDISO cases a third call,
femeit with ``exact_readings=False`` (no residual, no correction), shows what
that accuracy costs, and a fourth, the bare floor (``timing.bare_pardiso_floor``:
MKL's factorisation and sparse solve called directly, every address prepared),
what the floor's own binding costs: the floor above goes through
``linsolve.factorize``, as a user's call would.

Each round times every call once, in the orders of ``timing.balanced_orders``
(every call follows every other equally often), so a change of load and what
each call leaves in the caches fall on all of them; the floor is the faster
method by its median (not the smaller of two times per round, which the
noise alone biases down); cells are medians over the rounds (range), and the ratios
are medians (range) of the per-round ratios.  Wall and CPU time
(``time.process_time``, all threads of the process) are both given: on a shared
machine the CPU time is what the work costs alone.  The main run uses the
machine's default threads; a child process with BLAS, MKL and OpenMP pinned to one
thread gives the second table.  The cases are those of ``pyeit_comparison.py``
(point electrodes, adjacent protocol as pyEIT's ``std`` parser), two smaller
balls (377 and 646 unknowns, where femeit's fixed per-call cost weighs most),
those of ``forward.py`` (CEM disk, KGPSR cylinder P1 and P2), and the opposite
and dipole-dipole protocols, whose measured pairs are not driven.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import as_given_by_models, balanced_orders, bare_pardiso_floor, commit, faster, floor_factorize

import femeit as fe
from femeit.forward import ForwardModel
from femeit.forward.linsolve import available_backends, choose_backend
from femeit.protocol import Protocol

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5
HEADING = "## femeit's forward beside the floor (issue 25)"


def cases(p2: bool) -> list[tuple[str, object, int]]:
    """(name, model factory, rounds divisor): the larger cases run fewer rounds."""

    def point_disk(h):
        mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.0, h=h, h_electrode=h / 2))
        return ForwardModel(mesh, Protocol.adjacent(16), electrode_model="point")

    def point_ball(h, protocol=Protocol.adjacent):
        mesh = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=h, h_electrode=h / 2))
        return ForwardModel(mesh, protocol(16), electrode_model="point")

    def cem_disk():
        mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.03, h_electrode=0.01))
        return ForwardModel(mesh, Protocol.adjacent(16), 0.01)

    def kgpsr(order, protocol=Protocol.adjacent):
        mesh = fe.mesh_from_spec(fe.load_spec(ROOT / "geometries" / "kgpsr_cylinder.toml"))
        return ForwardModel(mesh, protocol(16), 1e-4, order=order)

    out = [
        ("disk, 16 point el., h=0.06", lambda: point_disk(0.06), 1),
        ("disk, 16 point el., h=0.03", lambda: point_disk(0.03), 1),
        ("disk, 16 point el., h=0.02", lambda: point_disk(0.02), 1),
        # Smaller than any pyEIT-comparison case: where femeit's fixed per-call cost weighs most.
        ("ball, 16 point el., h=0.4", lambda: point_ball(0.4), 1),
        ("ball, 16 point el., h=0.3", lambda: point_ball(0.3), 1),
        ("ball, 16 point el., h=0.25", lambda: point_ball(0.25), 1),
        ("ball, 16 point el., h=0.16", lambda: point_ball(0.16), 1),
        # Protocols whose measured pairs are not driven: their readings are corrected with extra
        # adjoint fields (opposite: 7 for 8 drives; dipole-dipole: 1 for 14).
        ("ball, 16 point el., h=0.25, opposite", lambda: point_ball(0.25, Protocol.opposite), 1),
        ("ball, 16 point el., h=0.25, dipole-dipole", lambda: point_ball(0.25, Protocol.dipole_dipole), 1),
        ("disk, 16 el., P1 CEM (forward.py)", cem_disk, 1),
        ("KGPSR-BB cylinder, P1 CEM", lambda: kgpsr(1), 2),
        ("KGPSR-BB cylinder, P1 CEM, opposite", lambda: kgpsr(1, Protocol.opposite), 2),
    ]
    if p2:
        out.append(("KGPSR-BB cylinder, P2 CEM", lambda: kgpsr(2), 5))
    return out


def measure(make, rounds: int) -> dict:
    """Interleaved wall and CPU times of femeit's forward, the floors and (PARDISO) femeit unrefined."""
    model = make()
    n_elem, size = model.mesh.n_elements, model.discretization.plan.size
    backend = choose_backend(size, model.mesh.dim, model.order)
    rng = np.random.default_rng(1)
    rounds = len(balanced_orders(5, rounds))  # rounded up to whole designs (5 calls at most)
    # A new conductivity for every call: femeit keeps the last factorisation.
    draws = iter([np.exp(0.3 * rng.standard_normal(n_elem)) for _ in range(3 * rounds + 3)])
    systems = iter([model.system_matrix(np.exp(0.3 * rng.standard_normal(n_elem))) for _ in range(3 * rounds + 3)])
    rhs = rng.standard_normal((size, len(model.protocol.injections)))
    # The forward's own right-hand sides: the current patterns, non-zero only in the electrode rows.
    rows = model.discretization.plan.renumber[model.discretization.electrode_unknowns[1:]]
    patterns = np.zeros((size, len(model.protocol.injections)))
    patterns[rows] = model.protocol.injections[:, 1:].T
    rhs, patterns = as_given_by_models(rhs), as_given_by_models(patterns)
    reuse: dict = {}
    reuse_sparse: dict = {}

    plain = dataclasses.replace(model, exact_readings=False)  # the same discretisation, its own cache

    def unrefined():
        plain.simulate(next(draws))

    calls = {
        "femeit": lambda: model.simulate(next(draws)),
        "floor": lambda: floor_factorize(next(systems), backend, reuse)(rhs),
    }
    if backend == "pardiso":
        calls["floor, sparse solves"] = lambda: floor_factorize(next(systems), backend, reuse_sparse, rows)(patterns)
        calls["femeit unrefined"] = unrefined
        bare = bare_pardiso_floor(model.system_matrix(np.ones(n_elem)), rows)
        calls["bare floor"] = lambda: bare(next(systems), patterns)
    # One untimed call each: the ordering and analysis every later conductivity reuses.
    for name in calls:
        calls[name]()
    times = {name: {"wall": [], "cpu": []} for name in calls}
    names = list(calls)
    for order in balanced_orders(len(names), rounds):
        for name in (names[index] for index in order):
            wall, cpu = time.perf_counter(), time.process_time()
            calls[name]()
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    # The floor is the faster of the available ways (by its median, per clock).
    for clock in ("wall", "cpu"):
        dense = times["floor"][clock]
        times.setdefault("floor, dense solves", {})[clock] = list(dense)
        if "floor, sparse solves" in times:
            times["floor"][clock] = list(faster(dense, times["floor, sparse solves"][clock]))
    kind = "tri" if model.mesh.dim == 2 else "tet"
    return {"size": f"{n_elem} {kind}, P{model.order}, {size} unknowns", "backend": backend, "times": times}


def cell(values: list[float]) -> str:
    return f"{1e3 * statistics.median(values):.3g} ({1e3 * min(values):.3g}-{1e3 * max(values):.3g})"


def ratio(a: list[float], b: list[float]) -> tuple[float, str]:
    r = [x / y for x, y in zip(a, b, strict=True)]
    return statistics.median(r), f"{statistics.median(r):.2f} ({min(r):.2f}-{max(r):.2f})"


def table(rows: dict[str, dict], clock: str) -> list[str]:
    """The markdown rows; ``clock`` ("wall" or "cpu") is the one the ratios in bold and the last two columns use."""
    name_of = {"wall": "wall", "cpu": "CPU"}
    lines = [
        "| case | mesh | floor backend | rounds | femeit ms wall / CPU | floor ms wall / CPU "
        f"| floor, dense solves / sparse solves, {name_of[clock]} ms | femeit / floor, wall | femeit / floor, CPU "
        f"| femeit / dense-solve floor, {name_of[clock]} | femeit unrefined / floor, {name_of[clock]} "
        f"| bare floor ms, {name_of[clock]} | femeit / bare floor, {name_of[clock]} "
        f"| femeit unrefined / bare floor, {name_of[clock]} |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        t = r["times"]
        f, fl, dense = t["femeit"], t["floor"], t["floor, dense solves"]
        unref = ratio(t["femeit unrefined"][clock], fl[clock])[1] if "femeit unrefined" in t else "-"
        bare = cell(t["bare floor"][clock]) if "bare floor" in t else "-"
        bare_ratio = ratio(f[clock], t["bare floor"][clock])[1] if "bare floor" in t else "-"
        unref_bare = ratio(t["femeit unrefined"][clock], t["bare floor"][clock])[1] if "bare floor" in t else "-"
        sparse = cell(t["floor, sparse solves"][clock]) if "floor, sparse solves" in t else "-"
        by_clock = {c: ratio(f[c], fl[c])[1] for c in ("wall", "cpu")}
        by_clock[clock] = f"**{by_clock[clock]}**"
        lines.append(
            f"| {name} | {r['size']} | {r['backend']} | {len(f['cpu'])} | {cell(f['wall'])} / {cell(f['cpu'])} "
            f"| {cell(fl['wall'])} / {cell(fl['cpu'])} | {cell(dense[clock])} / {sparse} "
            f"| {by_clock['wall']} | {by_clock['cpu']} | {ratio(f[clock], dense[clock])[1]} | {unref} "
            f"| {bare} | {bare_ratio} | {unref_bare} |"
        )
    return lines


def run(args: argparse.Namespace) -> dict[str, dict]:
    rows = {}
    for name, make, divisor in cases(not args.no_p2):
        if args.only and args.only not in name:
            continue
        rows[name] = measure(make, max(3, args.samples // divisor))
        t = rows[name]["times"]
        wall, cpu = (ratio(t["femeit"][c], t["floor"][c])[1] for c in ("wall", "cpu"))
        print(f"{name:36s} femeit/floor wall {wall}, CPU {cpu}", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15, help="interleaved rounds per small case (default 15)")
    parser.add_argument("--no-p2", action="store_true", help="leave out the KGPSR cylinder with P2 elements")
    parser.add_argument("--no-one-thread", action="store_true", help="skip the 1-thread child run")
    parser.add_argument("--only", help="run only the cases whose name contains this (does not write the file)")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--child-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    start, load_start, code = time.perf_counter(), tuple(round(x, 2) for x in os.getloadavg()), commit()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    rows = run(args)
    if args.child_json:
        args.child_json.write_text(json.dumps(rows))
        return 0
    single: dict = {}
    if not args.no_one_thread:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "one_thread.json"
            env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")
            command = [sys.executable, __file__, "--samples", str(args.samples), "--child-json", str(out)]
            command += ["--only", args.only] if args.only else []
            subprocess.run(command + (["--no-p2"] if args.no_p2 else []), env=env, check=True)
            single = json.loads(out.read_text())
    import scipy

    seconds = time.perf_counter() - start
    lines = [
        HEADING,
        "",
        f"Written by `python benchmarks/floor_ratio.py --samples {args.samples}"
        + (" --no-p2" if args.no_p2 else "")
        + (" --no-one-thread" if args.no_one_thread else "")
        + f"` from {started} UTC, {seconds:.0f} s in all: femeit at {code}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"backends here {available_backends()}; load average (1, 5, 15 min) at the start {load_start}, at the end "
        f"{tuple(round(x, 2) for x in os.getloadavg())}.",
        "",
        "Protocol (the module docstring): each round times femeit's forward (`simulate` on a new conductivity), "
        "the floor (factorisation + one solve per current pattern with the backend `auto` picks, on a matrix "
        "assembled beforehand, reusing the ordering and symbolic analysis as femeit does, no refinement; for "
        "PARDISO both the dense solve of 16 random right-hand sides and MKL's sparse solve of the current "
        "patterns themselves, as femeit solves them, the right-hand sides Fortran-ordered and read-only as femeit's "
        "models hand theirs, and the floor is the faster of the two by its median) and, "
        "for PARDISO, femeit with its refinement off (no residual, no correction of the readings) and the bare floor "
        "(MKL's factorisation and sparse solve called directly with every address prepared, no binding layers), "
        "in a Williams "
        "design (`timing.balanced_orders`: every call follows every other equally often); cells are medians over the "
        f"rounds (range), ms; ratios are medians (range) of the per-round ratios; target femeit / floor <= {TARGET}.",
        "",
        "Default threads (ratios in bold: wall time; the CPU time of a call at default threads also counts "
        "MKL's and OpenBLAS's idle workers spinning while they wait for work, which lands on whichever call runs "
        "next, so it is not the call's own cost):",
        "",
        *table(rows, "wall"),
        "",
    ]
    if single:
        lines += ["One thread (`OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = OMP_NUM_THREADS = 1`, a child process):", ""]
        lines += [*table(single, "cpu"), ""]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.only:
        return 0
    old = args.output.read_text() if args.output.exists() else ""
    if HEADING in old:  # replace this script's section, keep every other
        begin = old.index(HEADING)
        end = old.find("\n## ", begin + len(HEADING))
        new = old[:begin] + text + (old[end + 1 :] if end >= 0 else "")
    else:
        new = old.rstrip("\n") + "\n\n\n" + text
    args.output.write_text(new)
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
