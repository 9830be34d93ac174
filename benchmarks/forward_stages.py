"""CPU time of each stage of one forward solve (``ForwardModel.simulate``), medians over many calls.

Run:  OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_NUM_THREADS=1 python benchmarks/forward_stages.py [--repeat 300]

Times ``simulate`` on a new conductivity with the functions it calls wrapped in
timers (``time.process_time``, CPU time: on a shared machine what the work costs
alone): the validation of sigma (``ForwardModel._conductivity``), the assembly
(``Discretization.system_matrix``), the conditioning check, the factorisation
(``factorize``), the refinement's residual set-up (the split of the matrix), the
solves (the solve function's calls) and the extended-precision residual (for
PARDISO, whose solves ``simulate`` corrects by their adjoint-weighted residual
instead of refining); "the rest" is the whole call less these (comparing sigma
with the last one, the readings and their correction).  Cases where per-call costs
matter: the 3,639-tetrahedron ball with 16 point electrodes (PARDISO) and the
10,652-triangle CEM disk (SuperLU).  The floors: the bare factorisation + pattern
solves on the same kind of matrix (``timing.floor_factorize``), in the same loop:
16 dense right-hand sides, and for PARDISO also MKL's sparse solve of the current
patterns themselves (as femeit solves them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import numpy as np
from timing import as_given_by_models, commit, floor_factorize

import femeit as fe
from femeit.forward import Discretization, ForwardModel, linsolve
from femeit.forward import model as model_module
from femeit.protocol import Protocol

STAGES = ("validate sigma", "assemble", "conditioning", "factor", "residual set-up", "solves", "residual", "the rest")


def model_for(case: str, h: float = 0.25) -> ForwardModel:
    if case == "ball":
        mesh = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=h, h_electrode=h / 2))
        return ForwardModel(mesh, Protocol.adjacent(16), electrode_model="point")
    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.03, h_electrode=0.01))
    return ForwardModel(mesh, Protocol.adjacent(16), 0.01)


class Timers:
    """Wraps the forward path's functions so each call adds its CPU time to a stage."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.saved = []

    def timed(self, stage: str, fn):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[stage] += time.process_time() - start

        return wrapper

    def install(self) -> None:
        timers = self

        class TimedResidual(linsolve.Residual):
            def __call__(self, b, x):
                return timers.timed("residual", super().__call__)(b, x)

            def rounded(self, b, x):
                return timers.timed("residual", super().rounded)(b, x)

        def factorize(*args, **kwargs):
            solve = self.timed("factor", factorize_fn)(*args, **kwargs)
            if isinstance(solve, linsolve.RefinedSolve):  # its parts timed, so simulate still sees a RefinedSolve
                r = solve.residual
                return linsolve.RefinedSolve(
                    self.timed("solves", solve.unrefined),
                    TimedResidual(r.indptr, r.indices, r._values, r.n_columns, r.x_bits, matrix=r.matrix),
                    solve.steps,
                )
            return self.timed("solves", solve)

        factorize_fn = model_module.factorize
        targets = [
            (ForwardModel, "_conductivity", self.timed("validate sigma", ForwardModel._conductivity)),
            (Discretization, "system_matrix", self.timed("assemble", Discretization.system_matrix)),
            (model_module, "check_conditioning", self.timed("conditioning", model_module.check_conditioning)),
            (model_module, "factorize", factorize),
            (linsolve, "residual_function", self.timed("residual set-up", linsolve.residual_function)),
        ]
        for owner, name, new in targets:
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, new)

    def remove(self) -> None:
        for owner, name, old in reversed(self.saved):
            setattr(owner, name, old)


def stages(model: ForwardModel, repeat: int) -> dict[str, float]:
    """Median CPU ms of each stage, of the whole ``simulate`` and of the floor."""
    d, mesh = model.discretization, model.mesh
    rng = np.random.default_rng(0)
    sigmas = [np.exp(0.3 * rng.standard_normal(mesh.n_elements)) for _ in range(2 * repeat + 2)]
    rhs = rng.standard_normal((d.plan.size, len(model.protocol.injections)))
    backend = linsolve.choose_backend(d.plan.size, mesh.dim, model.order)
    rows = d.plan.renumber[d.electrode_unknowns[1:]]
    patterns = np.zeros_like(rhs)
    patterns[rows] = model.protocol.injections[:, 1:].T
    rhs, patterns = as_given_by_models(rhs), as_given_by_models(patterns)
    floor_reuse: dict = {}
    sparse_reuse: dict = {}
    floor_factorize(model.system_matrix(sigmas[-1]), backend, floor_reuse)
    floor_factorize(model.system_matrix(sigmas[-1]), backend, sparse_reuse, rows)
    model.simulate(sigmas[-2])  # the ordering, found once per model
    floors = ("floor, dense solves", "floor, sparse solves")
    times: dict[str, list[float]] = {name: [] for name in (*STAGES, "simulate (whole)", *floors)}
    timers = Timers()
    for k in range(repeat):
        timers.spent.clear()
        timers.install()
        try:
            start = time.process_time()
            model.simulate(sigmas[2 * k])
            whole = time.process_time() - start
        finally:
            timers.remove()
        timers.spent["factor"] -= timers.spent["residual set-up"]  # timed inside the factorisation
        for name in STAGES[:-1]:
            times[name].append(timers.spent[name])
        times["the rest"].append(whole - sum(timers.spent.values()))
        times["simulate (whole)"].append(whole)
        a_floor = model.system_matrix(sigmas[2 * k + 1])
        start = time.process_time()
        floor_factorize(a_floor, backend, floor_reuse)(rhs)
        times["floor, dense solves"].append(time.process_time() - start)
        if backend == "pardiso":  # MKL's sparse solve of the current patterns, as femeit solves them
            start = time.process_time()
            floor_factorize(a_floor, backend, sparse_reuse, rows)(patterns)
            times["floor, sparse solves"].append(time.process_time() - start)
    return {name: 1e3 * statistics.median(v) if v else float("nan") for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300, help="calls on the ball (the disk: a fifth)")
    parser.add_argument("--ball-h", type=float, default=0.25, help="the ball's mesh size (0.16: 9,118 tetrahedra)")
    args = parser.parse_args()
    print(f"femeit at {commit()} (the checkout; the code run is PYTHONPATH's: {fe.__file__})")
    print(f"load average {os.getloadavg()}; MKL threads {os.environ.get('MKL_NUM_THREADS', 'default')}")
    rows = {
        "ball": stages(model_for("ball", args.ball_h), args.repeat),
        "disk": stages(model_for("disk"), max(3, args.repeat // 5)),
    }
    ball = model_for("ball", args.ball_h).mesh.n_elements
    print(f"| stage, median CPU ms | ball, {ball} tet, point, PARDISO | disk, 10652 tri, CEM, SuperLU |")
    print("|---|---|---|")
    for name in (*STAGES, "simulate (whole)", "floor, dense solves", "floor, sparse solves"):
        print(f"| {name} | {rows['ball'][name]:.3f} | {rows['disk'][name]:.3f} |")
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
