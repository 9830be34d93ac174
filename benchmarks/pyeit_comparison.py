"""femeit against pyEIT 1.2.4 on identical meshes; writes BENCHMARKS.md.

Run:  pip install pyeit==1.2.4 && python benchmarks/pyeit_comparison.py [--quick] [-o BENCHMARKS.md]

pyEIT is a benchmark-only dependency.  Each case meshes a sensor with gmsh
(point electrodes: one mesh node each), hands the very same nodes, elements
and electrode nodes to pyEIT (``PyEITMesh``) and to femeit (the EITMesh, with
``electrode_model="point"``, the model pyEIT solves), and times on a random
log-normal conductivity:

* forward: all current patterns and the readings of the adjacent protocol;
* Jacobian: d readings / d element conductivity (femeit: adjoint method, one
  factorisation; pyEIT: ``compute_jac``);
* one-step: Jacobian plus a Tikhonov (L = I) reconstruction matrix applied to a
  frame (pyEIT: ``JAC.setup(method="dgn")`` plus ``solve``; femeit:
  ``prepare(jac).tikhonov_matrix(lam) @ dv``), both with the same lambda.

and checks that both give the same numbers: voltages, Jacobians (pyEIT's
carries the opposite sign: it omits the minus of dV/dsigma = -int grad u .
grad w) and the one-step images.  Calls are interleaved (each round times
pyEIT, femeit and the floor once, in the orders of ``timing.balanced_orders``,
so every call follows every other equally often), several rounds per case
(``--samples``, rounded up to whole designs), reported as median (range); the
speed-ups are per-round ratios.  The main run uses the machine's default BLAS threads; a child process
with BLAS/OpenMP pinned to one thread gives the second column.  femeit's
forward is also put beside the floor: factorisation plus pattern solves with
the fastest installed backend, on the same matrices (for PARDISO the faster, by
its median, of its dense solve of 16 right-hand sides and MKL's sparse solve of
the current patterns, which femeit uses).
"""

from __future__ import annotations

import argparse
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
from timing import as_given_by_models, balanced_orders, commit, faster, floor_factorize, interleaved, ratio, spread

import femeit as fe
from femeit.forward import ForwardModel
from femeit.forward.linsolve import available_backends, choose_backend
from femeit.inverse import prepare
from femeit.protocol import Protocol

LAMBDA = 1e-2  # relative to max diag(J'J); the same absolute value goes to both
# pyEIT's one-step inverts the dense n_elements x n_elements matrix J'J + lambda R:
# beyond about 12k elements that takes many minutes and gigabytes, so it is not run.
ONE_STEP_LIMIT = 12_000
# femeit's forward should stay within this factor of the floor (factorisation + pattern solves alone).
FLOOR_TARGET = 1.5
LOAD_AT_START = tuple(round(x, 2) for x in os.getloadavg())
COMMIT_AT_START = commit()  # the code that runs, even if the checkout changes meanwhile


def pyeit_mesh(mesh: fe.EITMesh):
    from pyeit.mesh import PyEITMesh

    # pyEIT assumes positively oriented elements (counter-clockwise triangles,
    # right-handed tetrahedra) and silently returns wrong voltages otherwise;
    # scikit-fem does not care, so orient them for pyEIT.
    elements = mesh.elements.copy()
    x = mesh.points[elements]
    if mesh.dim == 2:
        edges = x[:, 1:] - x[:, :1]
    else:  # pyEIT's own orientation test of a tetrahedron (its _k_tetrahedron)
        edges = (x[:, [2, 3, 0, 1]] - x[:, [1, 2, 3, 0]])[:, :3]
    negative = np.linalg.det(edges) < 0
    elements[negative] = elements[negative][:, [0, 2, 1, *range(3, elements.shape[1])]]
    el_pos = np.array([e.node for e in mesh.electrodes])
    return PyEITMesh(
        node=mesh.points, element=elements, perm=np.ones(mesh.n_elements), el_pos=el_pos, ref_node=int(el_pos[0])
    )


def compare(name: str, mesh: fe.EITMesh, samples: int, solver: str = "auto") -> dict:
    from pyeit.eit import protocol as pyeit_protocol
    from pyeit.eit.fem import EITForward
    from pyeit.eit.jac import JAC

    n_el = len(mesh.electrodes)
    pm = pyeit_mesh(mesh)
    proto = pyeit_protocol.create(n_el, dist_exc=1, step_meas=1, parser_meas="std")
    # The same rows in femeit: pyEIT's meas_mat[k] lists (M, N) for excitation ex_mat[k].
    abmn = np.array([[*proto.ex_mat[k], m, n] for k in range(len(proto.ex_mat)) for m, n in proto.meas_mat[k]])
    model = ForwardModel(mesh, Protocol.from_abmn(abmn, n_el), electrode_model="point", solver=solver)
    perm = np.exp(0.3 * np.random.default_rng(0).standard_normal(mesh.n_elements))

    fwd = EITForward(pm, proto)
    # A new conductivity for every timed call: femeit keeps the factorisation of
    # the last conductivity, and a repeated one would time a cache hit.
    rng = np.random.default_rng(1)
    rounds = max(len(balanced_orders(k, samples)) for k in (2, 3, 4))  # the most any interleaved set below runs
    fresh = [perm * (1.0 + 0.01 * rng.random(mesh.n_elements)) for _ in range(8 * rounds + 8)]
    draws = iter(fresh)
    # The floor of any forward solve on this system: factorisation of the grounded
    # matrix plus one solve per current pattern, with the fastest installed backend
    # (matrices assembled beforehand, so only the linear algebra is timed).
    fastest = choose_backend(model.discretization.plan.size, mesh.dim, 1)
    systems = iter([model.system_matrix(next(draws)) for _ in range(2 * rounds)])
    rhs = np.random.default_rng(2).standard_normal((model.system_matrix(perm).shape[0], len(proto.ex_mat)))
    # PARDISO can also solve the current patterns themselves by MKL's sparse solve, as femeit does.
    plan = model.discretization.plan
    rows = plan.renumber[model.discretization.electrode_unknowns[1:]]
    patterns = np.zeros_like(rhs)
    patterns[rows] = model.protocol.injections[:, 1:].T
    rhs, patterns = as_given_by_models(rhs), as_given_by_models(patterns)
    reuse: dict = {}
    reuse_sparse: dict = {}
    floor_factorize(model.system_matrix(perm), fastest, reuse)  # the ordering, kept as femeit's model keeps it
    floor_factorize(model.system_matrix(perm), fastest, reuse_sparse, rows)
    # One untimed femeit call too: it finds what the model keeps for every later conductivity
    # (the ordering and PARDISO's analysis), as the floor's call above does for the floor.
    model.simulate(perm)
    calls = {
        "pyeit": lambda: fwd.solve_eit(perm=next(draws)),
        "femeit": lambda: model.simulate(next(draws)),
        "floor": lambda: floor_factorize(next(systems), fastest, reuse)(rhs),
    }
    if fastest == "pardiso":
        calls["floor, sparse solves"] = lambda: floor_factorize(next(systems), fastest, reuse_sparse, rows)(patterns)
    forward = interleaved(calls, samples)
    # The floor is the faster of the two ways (by its median).
    floor_kind = "dense solves"
    if (
        "floor, sparse solves" in forward
        and faster(forward["floor"], forward["floor, sparse solves"]) is not forward["floor"]
    ):
        forward["floor"], floor_kind = forward["floor, sparse solves"], "sparse solves"
    # From scratch in both: factorisation, fields and the Jacobian, as pyEIT's compute_jac.
    jacobian = interleaved(
        {"pyeit": lambda: fwd.compute_jac(perm=next(draws)), "femeit": lambda: model.jacobian(next(draws))},
        samples,
    )
    py = {"forward": forward["pyeit"], "jacobian": jacobian["pyeit"]}
    fe_t = {"forward": forward["femeit"], "jacobian": jacobian["femeit"]}
    v_py = fwd.solve_eit(perm=perm)
    j_py, _ = fwd.compute_jac(perm=perm)
    v_fe = model.simulate(perm)
    j_fe = model.jacobian(perm)

    # One-step difference image about the homogeneous reference.
    centres = mesh.points[mesh.elements].mean(axis=1)
    perm_object = np.where(np.linalg.norm(centres[:, :2] - 0.3, axis=1) < 0.25, 2.0, 1.0)
    v0, v1 = fwd.solve_eit(perm=np.ones(mesh.n_elements)), fwd.solve_eit(perm=perm_object)
    jac1 = model.jacobian(1.0)
    lam = LAMBDA * float(np.max(np.sum(jac1**2, axis=0)))
    solver = JAC(pm, proto)

    def pyeit_one_step():
        solver.setup(p=0.5, lamb=lam, method="dgn", perm=1.0, jac_normalized=False)
        return solver.solve(v1, v0, normalize=False)

    def femeit_one_step():
        # A fresh model each call: the Jacobian at the reference is computed, not cached.
        fresh_model = ForwardModel(mesh, model.protocol, electrode_model="point")
        return prepare(fresh_model.jacobian(1.0)).tikhonov_matrix(lam) @ (v1 - v0)

    x_fe = femeit_one_step()
    if mesh.n_elements <= ONE_STEP_LIMIT:
        one_step = interleaved({"pyeit": pyeit_one_step, "femeit": femeit_one_step}, max(1, samples // 2))
        py["one-step"], fe_t["one-step"] = one_step["pyeit"], one_step["femeit"]
        x_py = np.real(pyeit_one_step())
    else:  # not run: see ONE_STEP_LIMIT
        py["one-step"], fe_t["one-step"] = [], interleaved({"femeit": femeit_one_step}, samples)["femeit"]
        x_py = x_fe

    scale = np.abs(v_fe).max()
    return {
        "name": name,
        "size": f"{mesh.n_elements} {'tri' if mesh.dim == 2 else 'tet'}",
        "n_elements": mesh.n_elements,
        "pyeit": py,
        "femeit": fe_t,
        "floor": forward["floor"],
        "floor_backend": fastest,
        "floor_kind": floor_kind,
        "voltage_error": float(np.abs(v_fe - v_py).max() / scale),
        "jacobian_error": float(np.abs(j_fe + j_py).max() / np.abs(j_fe).max()),
        # pyEIT's solve negates its (sign-flipped) Jacobian's answer: the images are equal.
        "image_error": float(np.abs(x_fe - x_py).max() / np.abs(x_fe).max())
        if mesh.n_elements <= ONE_STEP_LIMIT
        else np.nan,
    }


def cases(quick: bool) -> list[tuple[str, fe.EITMesh]]:
    # pyEIT inverts its reduced system densely (cubic in the nodes): beyond about 20k triangles it takes
    # many minutes and GB, so the comparison stops there.
    sizes_2d = (0.06, 0.03) if quick else (0.06, 0.03, 0.02)
    out = []
    for h in sizes_2d:
        spec = fe.CircleSpec(radius=1.0, electrode_width=0.0, h=h, h_electrode=h / 2)
        out.append((f"disk, 16 point el., h={h}", fe.mesh_from_spec(spec)))
    for h in (0.25,) if quick else (0.25, 0.16):
        spec = fe.BallSpec(radius=1.0, h=h, h_electrode=h / 2)
        out.append((f"ball, 16 point el., h={h}", fe.mesh_from_spec(spec)))
    return out


def write_markdown(rows: list[dict], one_thread: dict[str, dict], path: Path, seconds: float, solver: str) -> None:
    from importlib.metadata import version

    import scipy

    lines = [
        "# Benchmarks: femeit against pyEIT 1.2.4",
        "",
        f"Written by `python benchmarks/pyeit_comparison.py` on {time.strftime('%Y-%m-%d', time.gmtime())}: "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, femeit {fe.__version__} at {COMMIT_AT_START}, pyEIT {version('pyeit')}, "
        f"femeit linear solver {solver}; load average (1, 5, 15 min) at the start {LOAD_AT_START}, at the end "
        f"{tuple(round(x, 2) for x in os.getloadavg())}; {seconds:.0f} s in all.",
        "",
        'Protocol: identical meshes and point electrodes (femeit `electrode_model="point"`), adjacent protocol '
        "(pyEIT's `std` parser: 208 rows), random log-normal conductivity, a new one for every timed call "
        "(femeit keeps the last factorisation; nothing is served from it here). Calls are interleaved: each "
        "round times pyEIT, femeit and the floor once, in a Williams design (`timing.balanced_orders`: every call "
        "follows every other equally often), so a change of load and what each call leaves in the caches fall "
        "on all of them; every cell is the median wall time over the rounds, s, with the range in brackets, and "
        "every speed-up is the median (range) of the per-round ratios. Main table: the machine's default BLAS "
        "threads; the last column repeats the speed-up with BLAS and OpenMP pinned to one thread (a child "
        "process with OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = OMP_NUM_THREADS = 1). Jacobian: from scratch in "
        "both (factorisation, fields, sensitivities). One-step: Jacobian plus a Tikhonov (L = I) reconstruction "
        'with the same lambda in both (pyEIT `JAC.setup(method="dgn")`; not run above '
        f"{ONE_STEP_LIMIT} elements, where pyEIT's dense inverse of J'J takes many minutes).",
        "",
        "| case | mesh | step | pyEIT s | femeit s | speed-up | speed-up, 1 thread |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        single = one_thread.get(r["name"], {})
        for key in ("forward", "jacobian", "one-step"):
            p, f = r["pyeit"][key], r["femeit"][key]
            p1, f1 = single.get("pyeit", {}).get(key, []), single.get("femeit", {}).get(key, [])
            p_cell = spread(p) if p else "not run"
            lines.append(
                f"| {r['name']} | {r['size']} | {key} | {p_cell} | {spread(f)} | **{ratio(p, f)}** | {ratio(p1, f1)} |"
            )
    lines += [
        "",
        "Agreement (relative to the largest value; the same problem and discretisation, so only round-off differs):",
        "",
        "| case | voltages | Jacobian | one-step image |",
        "|---|---|---|---|",
    ]
    for r in rows:
        image = "not run" if np.isnan(r["image_error"]) else f"{r['image_error']:.1e}"
        lines.append(f"| {r['name']} | {r['voltage_error']:.1e} | {r['jacobian_error']:.1e} | {image} |")
    lines += [
        "",
        "femeit's forward beside the floor on the same system: factorisation of the grounded matrix plus one "
        "solve per current pattern with the fastest installed backend (PARDISO: the faster, by its median, of "
        "its dense solve and MKL's sparse solve of the current patterns), timed in the same rounds (target: "
        f"femeit within {FLOOR_TARGET}x of the floor):",
        "",
        "| case | floor backend | floor s | femeit forward s | femeit / floor | femeit / floor, 1 thread |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        single = one_thread.get(r["name"], {})
        lines.append(
            f"| {r['name']} | {r['floor_backend']}, {r['floor_kind']} | {spread(r['floor'])} | "
            f"{spread(r['femeit']['forward'])} | "
            f"{ratio(r['femeit']['forward'], r['floor'])} | "
            f"{ratio(single.get('femeit', {}).get('forward', []), single.get('floor', []))} |"
        )
    lines += [
        "",
        "Why femeit is faster: one sparse factorisation per conductivity reused for every current pattern and, "
        "as adjoint fields, for every measurement; the Jacobian is one dense product of element-gradient "
        "arrays (no loop over elements or measurements); assembly uses a precomputed sparsity plan. "
        "pyEIT 1.2.4's forward (`EITForward.solve_eit`) assembles the stiffness matrix with a Python loop over "
        "elements (`assemble`: `[ke[i] * perm[i] for i in range(n_tri)]`) and then calls "
        "`scipy.sparse.linalg.spsolve` once per excitation (`Forward.solve`, one right-hand side each): a new "
        "SuperLU factorisation of the same matrix for each of the 16 excitations. Its `compute_jac` makes the "
        "same 16 factorisations, a dense inverse of the whole stiffness matrix (`la.inv(kg.toarray())`, cubic "
        "in the number of nodes and multi-threaded by LAPACK, hence the different speed-up with one thread) "
        "and a Python loop over excitations and elements (one small product per element and excitation); its "
        "one-step matrix is a dense inverse of J'J + lambda R, cubic in the number of elements. femeit's "
        "one-step uses the SVD of the 208 x n Jacobian.",
        "",
    ]
    # Sections written by other benchmarks (second-level headings, e.g. issue 25's) are kept.
    old = path.read_text() if path.exists() else ""
    kept = old[old.index("\n## ") + 1 :] if "\n## " in old else ""
    path.write_text("\n".join(lines) + "\n" + kept)


def run_cases(quick: bool, samples: int, solver: str) -> list[dict]:
    rows = []
    for name, mesh in cases(quick):
        row = compare(name, mesh, samples, solver)
        rows.append(row)
        print(
            f"{name:30s} {row['size']:>11s}  forward x {ratio(row['pyeit']['forward'], row['femeit']['forward'])}"
            f"  Jacobian x {ratio(row['pyeit']['jacobian'], row['femeit']['jacobian'])}"
            f"  femeit/floor {ratio(row['femeit']['forward'], row['floor'])}"
            f"  | agree: V {row['voltage_error']:.1e} J {row['jacobian_error']:.1e} x {row['image_error']:.1e}",
            flush=True,
        )
    return rows


def one_thread_rows(args: argparse.Namespace) -> dict[str, dict]:
    """The timings with BLAS/OpenMP pinned to one thread, from a child process (threads are fixed at start-up)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "one_thread.json"
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")
        command = [sys.executable, __file__, "--samples", str(args.samples), "--solver", args.solver]
        command += ["--child-json", str(out)] + (["--quick"] if args.quick else [])
        subprocess.run(command, env=env, check=True)
        rows = json.loads(out.read_text())
    return {r["name"]: r for r in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller meshes only")
    parser.add_argument("--samples", type=int, default=7, help="interleaved rounds per case (default 7)")
    parser.add_argument("--no-one-thread", action="store_true", help="skip the 1-thread column")
    parser.add_argument(
        "--solver", default="auto", help=f"femeit's linear solver (default auto; here: {available_backends()})"
    )
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).resolve().parent.parent / "BENCHMARKS.md")
    parser.add_argument("--child-json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        import pyeit  # noqa: F401
    except ImportError:
        print("pyEIT is not installed: pip install pyeit==1.2.4 (benchmark-only)")
        return 2
    start = time.perf_counter()
    rows = run_cases(args.quick, args.samples, args.solver)
    if args.child_json:
        args.child_json.write_text(json.dumps(rows))
        return 0
    one_thread = {} if args.no_one_thread else one_thread_rows(args)
    failures = []
    for row in rows:
        if max(row["voltage_error"], row["jacobian_error"], np.nan_to_num(row["image_error"])) > 1e-8:
            failures.append(f"{row['name']}: femeit and pyEIT disagree beyond 1e-8")
        over = statistics.median(f / c for f, c in zip(row["femeit"]["forward"], row["floor"], strict=True))
        if over > FLOOR_TARGET:
            failures.append(f"{row['name']}: femeit's forward {over:.2f}x the floor (target {FLOOR_TARGET}x)")
    # ``auto`` picks per case (SuperLU in 2D, PARDISO in 3D where installed): the floor's backend column.
    solver = "auto (each case's floor backend)" if args.solver == "auto" else args.solver
    write_markdown(rows, one_thread, args.output, time.perf_counter() - start, solver)
    print(f"written: {args.output}")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
