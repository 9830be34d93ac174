"""Forward-model and Jacobian speed (median wall time, one process).

Run:  python benchmarks/forward.py [--repeat 5] [--big] [--pyeit]

Cases:
* the 16-electrode disk at about 10k triangles, P1 CEM, adjacent protocol:
  a full forward solve (assembly, factorisation, 16 current patterns) for a
  new conductivity, and the 208 x n_elements Jacobian at that conductivity;
* the KGPSR-BB cylinder (geometries/kgpsr_cylinder.toml, about 70k tetrahedra), P1 CEM;
* ``--p2``: the KGPSR-BB cylinder with P2 elements;
* ``--big``: a cylinder of about 1M tetrahedra, forward plus Jacobian, with peak memory
  (``benchmarks/large_model.py`` measures that case alone, with J-products and the floor);
* ``--pyeit``: pyEIT 1.2.4 (if installed; benchmark-only) on the identical disk
  mesh with point electrodes, against femeit's point-electrode model.

Times exclude the one-off set-up (element matrices, assembly plan), reported separately.
Beside femeit's forward: the floor on the same system (factorisation of the
grounded matrix plus the pattern solves, fastest installed backend) and their
ratio (target <= 1.5), and the process's peak resident memory so far.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np
from timing import as_given_by_models, commit, floor_factorize, median_wall_cpu

import femeit as fe
from femeit.forward import ForwardModel
from femeit.forward.linsolve import available_backends, choose_backend
from femeit.protocol import Protocol

ROOT = Path(__file__).resolve().parent.parent


def floor_time(model: ForwardModel, repeat: int) -> tuple[float, float]:
    """Median wall and CPU time of the floor: factorisation of the model's grounded matrix plus its 16 pattern solves.

    With the fastest installed backend by the measured crossovers (``choose_backend``), on
    matrices assembled beforehand (only the linear algebra is timed), without
    femeit's refinement step, with the fill-reducing ordering reused as femeit
    reuses it (``timing.floor_factorize``).
    """
    rng = np.random.default_rng(1)
    systems = iter([model.system_matrix(1.0 + 0.1 * rng.random(model.mesh.n_elements)) for _ in range(repeat)])
    rhs = as_given_by_models(rng.standard_normal((model.discretization.plan.size, len(model.protocol.injections))))
    fastest = choose_backend(model.discretization.plan.size, model.mesh.dim, model.order)
    reuse: dict = {}
    floor_factorize(model.system_matrix(1.0), fastest, reuse)  # the ordering, kept as femeit's model keeps it
    return median_wall_cpu(lambda: floor_factorize(next(systems), fastest, reuse)(rhs), repeat)


def forward_and_jacobian(model: ForwardModel, repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) medians of a forward solve and of a Jacobian, s."""
    rng = np.random.default_rng(0)

    def fresh() -> np.ndarray:
        # A new conductivity every call, so nothing is reused from a cache.
        return 1.0 + 0.1 * rng.random(model.mesh.n_elements)

    # One untimed call first: it finds what femeit keeps for every later conductivity of
    # the model (the solver's fill-reducing ordering), as the floor's untimed first call does.
    model.simulate(fresh())
    sigmas = [fresh() for _ in range(repeat)]
    it = iter(sigmas)
    t_forward = median_wall_cpu(lambda: model.simulate(next(it)), repeat)
    model.simulate(sigmas[0])
    t_jacobian = median_wall_cpu(lambda: model.jacobian(sigmas[0]), repeat)
    return t_forward, t_jacobian


def report(name: str, size: str, setup: float, forward: tuple, jacobian: tuple, targets: tuple, floor: tuple) -> None:
    """One table row (wall / CPU s); the peak resident memory is that of the process so far (it only grows)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"| {name} | {size} | {setup:.3f} | {forward[0]:.4f} / {forward[1]:.4f} | {jacobian[0]:.4f} / {jacobian[1]:.4f}"
        f" | {floor[0]:.4f} / {floor[1]:.4f} | {forward[0] / floor[0]:.2f} / {forward[1] / floor[1]:.2f}"
        f" | {peak:.2f} | {targets[0]} s / {targets[1]} s |"
    )


def pyeit_comparison(mesh: fe.EITMesh, repeat: int) -> None:
    try:
        from pyeit.eit import protocol as pyeit_protocol
        from pyeit.eit.fem import EITForward
        from pyeit.mesh import PyEITMesh
    except ImportError:
        print("pyEIT not installed (pip install pyeit==1.2.4): comparison skipped")
        return
    el_pos = np.array([e.node for e in mesh.electrodes])
    # pyEIT assumes counter-clockwise triangles and silently returns wrong
    # voltages otherwise; scikit-fem does not care, so orient them for pyEIT.
    tri = mesh.elements.copy()
    x = mesh.points[tri]
    det = (x[:, 1, 0] - x[:, 0, 0]) * (x[:, 2, 1] - x[:, 0, 1]) - (x[:, 1, 1] - x[:, 0, 1]) * (x[:, 2, 0] - x[:, 0, 0])
    tri[det < 0] = tri[det < 0][:, [0, 2, 1]]
    pm = PyEITMesh(node=mesh.points, element=tri, perm=np.ones(mesh.n_elements), el_pos=el_pos, ref_node=int(el_pos[0]))
    protocol = pyeit_protocol.create(16, dist_exc=1, step_meas=1, parser_meas="std")
    fwd = EITForward(pm, protocol)
    perm = np.exp(0.3 * np.random.default_rng(0).standard_normal(mesh.n_elements))
    t_py_fwd = median_wall_cpu(lambda: fwd.solve_eit(perm=perm), max(1, repeat // 2))[0]
    t_py_jac = median_wall_cpu(lambda: fwd.compute_jac(perm=perm), 1)[0]
    v_py = fwd.solve_eit(perm=perm)
    j_py, _ = fwd.compute_jac(perm=perm)
    # The same rows in femeit: pyEIT's meas_mat[k] lists (M, N) for excitation ex_mat[k].
    abmn = [[*protocol.ex_mat[k], m, n] for k in range(len(protocol.ex_mat)) for m, n in protocol.meas_mat[k]]
    model = ForwardModel(mesh, Protocol.from_abmn(np.array(abmn), 16), electrode_model="point")
    (t_fe_fwd, _), (t_fe_jac, _) = forward_and_jacobian(model, repeat)
    v_fe = model.simulate(perm)
    j_fe = model.jacobian(perm)
    print(f"pyEIT 1.2.4 on the identical mesh ({mesh.n_elements} tri, point electrodes, random conductivity):")
    print(f"  forward  pyEIT {t_py_fwd:.3f} s, femeit {t_fe_fwd:.4f} s: {t_py_fwd / t_fe_fwd:.0f}x")
    print(f"  Jacobian pyEIT {t_py_jac:.3f} s, femeit {t_fe_jac:.4f} s: {t_py_jac / t_fe_jac:.0f}x")
    print(f"  voltages agree to {np.abs(v_fe - v_py).max() / np.abs(v_fe).max():.1e} relative")
    # pyEIT's Jacobian omits the minus sign of dV/dsigma = -int grad u . grad w (femeit's passes the Taylor test).
    print(f"  Jacobians agree to {np.abs(j_fe + j_py).max() / np.abs(j_fe).max():.1e} relative, up to pyEIT's sign")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big", action="store_true", help="also the 1M-tetrahedron cylinder")
    parser.add_argument("--p2", action="store_true", help="also the KGPSR-BB cylinder with P2 elements")
    parser.add_argument("--pyeit", action="store_true", help="compare with pyEIT 1.2.4 if installed")
    parser.add_argument("--solver", default="auto", help="linear solver backend (default: auto)")
    args = parser.parse_args()
    threads = {k: os.environ.get(k, "default") for k in ("MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print(f"femeit at {commit()}; {platform.machine()}, {os.cpu_count()} cores; threads {threads}")
    print(f"linear solver: {args.solver} (available here: {available_backends()})")
    print(f"load average {os.getloadavg()}; floor = factorisation + pattern solves alone (choose_backend)")
    print(
        "| case | size | set-up s | forward wall / CPU s | Jacobian wall / CPU s | floor wall / CPU s"
        " | femeit / floor (wall / CPU) | peak RSS GB | targets forward / Jacobian |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    disk = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.03, h_electrode=0.01))
    start = time.perf_counter()
    model = ForwardModel(disk, Protocol.adjacent(16), 0.01, solver=args.solver)
    setup = time.perf_counter() - start
    report(
        "disk, 16 el., P1 CEM, 208 rows",
        f"{disk.n_elements} tri",
        setup,
        *forward_and_jacobian(model, args.repeat),
        (0.02, 0.05),
        floor_time(model, args.repeat),
    )

    cylinder = fe.mesh_from_spec(fe.load_spec(ROOT / "geometries" / "kgpsr_cylinder.toml"))
    start = time.perf_counter()
    model = ForwardModel(cylinder, Protocol.adjacent(16), 1e-4, solver=args.solver)
    setup = time.perf_counter() - start
    fwd, jac = forward_and_jacobian(model, args.repeat)
    floor = floor_time(model, args.repeat)
    report("KGPSR-BB cylinder, P1 CEM", f"{cylinder.n_elements} tet", setup, fwd, jac, ("1 (sum)", "1 (sum)"), floor)
    if args.p2:
        start = time.perf_counter()
        model = ForwardModel(cylinder, Protocol.adjacent(16), 1e-4, order=2, solver=args.solver)
        setup = time.perf_counter() - start
        fwd, jac = forward_and_jacobian(model, 1)
        floor = floor_time(model, 1)
        report(
            "KGPSR-BB cylinder, P2 CEM", f"{cylinder.n_elements} tet", setup, fwd, jac, ("8 (sum)", "8 (sum)"), floor
        )

    if args.big:
        spec = fe.CylinderSpec(radius=0.1, height=0.1, h=0.0024, h_electrode=0.0024)
        start = time.perf_counter()
        big = fe.mesh_from_spec(spec)
        mesh_time = time.perf_counter() - start
        start = time.perf_counter()
        model = ForwardModel(big, Protocol.adjacent(16), 1e-4)
        setup = time.perf_counter() - start
        fwd, jac = forward_and_jacobian(model, 1)
        report(
            "big cylinder, P1 CEM",
            f"{big.n_elements} tet",
            setup,
            fwd,
            jac,
            ("20 (sum)", "20 (sum)"),
            floor_time(model, 1),
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"  meshing {mesh_time:.1f} s; peak memory of the whole run {peak:.2f} GB")
    print(f"load average at the end {os.getloadavg()}")

    if args.pyeit:
        pyeit_disk = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.0, h=0.03, h_electrode=0.01))
        pyeit_comparison(pyeit_disk, args.repeat)


if __name__ == "__main__":
    main()
