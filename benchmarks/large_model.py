"""A large P1 model: forward solve and Jacobian products, with time and peak memory.

Run:  python benchmarks/large_model.py [--h 0.0024] [--solver auto] [--jacobian]

The cylinder of ``benchmarks/forward.py --big`` (radius and height 0.1 m, 16
electrodes, P1 CEM, adjacent protocol; h = 0.0024 m gives about 1M
tetrahedra).  The mesh is made (or read from femeit's mesh cache) in a child
process first, so the peak memory reported here is that of the model alone:
reading the mesh, the set-up (element matrices, assembly plan), one forward
solve, ``jvec`` and ``jtvec`` (matrix-free: nothing of size n_rows x
n_elements, let alone n_elements x n_nodes), and with ``--jacobian`` the dense
208 x n_elements Jacobian.  Beside femeit's forward time it prints the floor
on this system: factorisation of the same matrix plus the 16 pattern solves
alone, with the fastest installed backend.

Prints CPU time (``time.process_time``, all threads) and wall time, the load
average before and after, and the peak resident memory (``ru_maxrss``).  The
acceptance figures (1M tetrahedra <= 20 s and <= 4 GB) need a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
from timing import as_given_by_models, commit, floor_factorize

import femeit as fe
from femeit.forward import ForwardModel
from femeit.forward.linsolve import available_backends, choose_backend
from femeit.protocol import Protocol


def spec(h: float) -> fe.CylinderSpec:
    return fe.CylinderSpec(radius=0.1, height=0.1, h=h, h_electrode=h)


def clock(fn):
    """(result, CPU s, wall s) of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--h", type=float, default=0.0024, help="element size, m (0.0024: about 1M tetrahedra)")
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--jacobian", action="store_true", help="also the dense 208 x n_elements Jacobian")
    parser.add_argument("--mesh-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mesh_only:
        fe.mesh_from_spec(spec(args.h))
        return
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--h", str(args.h), "--mesh-only"], check=True)
    print(f"meshing (child process, or the cache): {time.perf_counter() - start:.1f} s wall")
    print(f"load average before: {os.getloadavg()}; backends here: {available_backends()}")
    rows = []
    mesh, cpu, wall = clock(lambda: fe.mesh_from_spec(spec(args.h)))
    rows.append(("read mesh from the cache", cpu, wall))
    model, cpu, wall = clock(lambda: ForwardModel(mesh, Protocol.adjacent(16), 1e-4, solver=args.solver))
    threads = {k: os.environ.get(k, "default") for k in ("MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print(f"femeit at {commit()}; {platform.machine()}, {os.cpu_count()} cores; threads {threads}")
    rows.append(("set-up (element matrices, plan)", cpu, wall))
    rng = np.random.default_rng(0)
    sigma = 1.0 + 0.1 * rng.random(mesh.n_elements)
    _, cpu, wall = clock(lambda: model.simulate(sigma))
    rows.append(("forward (assemble, factor, 16 solves), first conductivity: finds the ordering", cpu, wall))
    _, cpu, wall = clock(lambda: model.simulate(1.05 * sigma))  # the first factor is released before the second
    rows.append(("forward, a second conductivity: the ordering reused", cpu, wall))
    sigma = 1.05 * sigma  # the conductivity whose fields the model now keeps
    _, cpu, wall = clock(lambda: model.jvec(sigma, rng.standard_normal(mesh.n_elements)))
    rows.append(("jvec (fields reused, adjoint solves)", cpu, wall))
    _, cpu, wall = clock(lambda: model.jtvec(sigma, rng.standard_normal(model.protocol.n_rows)))
    rows.append(("jtvec", cpu, wall))
    if args.jacobian:
        _, cpu, wall = clock(lambda: model.jacobian(sigma))
        rows.append(("dense Jacobian (208 x n_elements)", cpu, wall))
    peak_model = peak_gb()
    # The floor: the same grounded system, factored and solved for the 16 patterns alone.
    system = model.system_matrix(1.1 * sigma)
    rhs = as_given_by_models(np.random.default_rng(1).standard_normal((system.shape[0], 16)))
    fastest = choose_backend(system.shape[0], 3, 1) if args.solver == "auto" else args.solver
    reuse: dict = {}
    _, cpu, wall = clock(lambda: floor_factorize(system, fastest, reuse)(rhs))
    rows.append((f"floor: {fastest} factor + 16 solves, finding the ordering", cpu, wall))
    _, cpu, wall = clock(lambda: floor_factorize(1.05 * system, fastest, reuse)(rhs))
    rows.append((f"floor: {fastest} factor + 16 solves, the ordering reused", cpu, wall))
    print(f"{mesh.n_elements} tetrahedra, {model.n_dofs} nodes, femeit's solver {args.solver!r} -> {fastest!r}")
    print("| step | CPU s | wall s |\n|---|---|---|")
    for name, cpu, wall in rows:
        print(f"| {name} | {cpu:.1f} | {wall:.1f} |")
    print(f"peak resident memory after the model steps: {peak_model:.2f} GB; after the floor: {peak_gb():.2f} GB")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
