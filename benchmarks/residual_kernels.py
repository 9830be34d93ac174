"""The readings' residual by numba's compiled loop beside numpy's operations, interleaved in one process.

Run:  python benchmarks/residual_kernels.py [--rounds 200]

On the grounded systems of balls with 16 point electrodes (P1 377, 877, 2,007
and 28,909 unknowns; P2 38,438) and 16 random fields, times
``Residual.rounded`` (what ``simulate`` uses to correct its readings) with the
compiled loop of ``femeit.forward.kernels`` and with numpy's operations and
sparse products (MKL's where pypardiso is installed), each residual made anew
as a new conductivity's factorisation makes it (numpy: the split of the
matrix; compiled: a copy of its values), the split's per-pattern arrays made
beforehand as a model's cache has them.  The two give the same numbers bit for
bit (checked first).  Cells: median wall time (us) and the median per-round
ratio compiled / numpy.  Default threads (MKL's product then uses every core;
the compiled loop one).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from timing import commit, interleaved

import femeit as fe
from femeit.forward import ForwardModel, linsolve
from femeit.protocol import Protocol

CASES = ((0.4, 1), (0.25, 1), (0.16, 1), (0.05, 1), (0.1, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="interleaved rounds on the smallest system")
    args = parser.parse_args()
    kernels = linsolve.compiled_loops()
    if kernels is None:
        raise SystemExit("numba is not installed (or FEMEIT_NUMBA=0): nothing to compare")
    print(f"femeit at {commit()}; median wall us (compiled / numpy: median per-round ratio)")
    print("| system | unknowns | nonzeros | compiled us | numpy us | compiled / numpy |")
    print("|---|---|---|---|---|---|")
    for h, order in CASES:
        n, nnz, cells = row(h, order, args.rounds)
        print(f"| ball h={h}, P{order} | {n} | {nnz} | " + " | ".join(cells) + " |")


def row(h: float, order: int, rounds_377: int) -> tuple[int, int, list[str]]:
    """Unknowns, non-zeros and the table's cells for the ball of mesh size ``h`` and element order ``order``."""
    mesh = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=h, h_electrode=h / 2))
    model = ForwardModel(mesh, Protocol.adjacent(16), electrode_model="point", order=order)
    a = model.system_matrix(np.exp(0.3 * np.random.default_rng(0).standard_normal(mesh.n_elements)))
    n = a.shape[0]
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.standard_normal((n, 16)))  # as PARDISO returns its solutions
    b = np.ascontiguousarray(a @ x + 1e-14 * rng.standard_normal((n, 16)))
    reuse: dict = {}
    linsolve.residual_function(a, reuse)  # the split's per-pattern arrays, made once per model

    def made(compiled: bool) -> linsolve.Residual:
        """The residual as a new conductivity's factorisation makes it (numpy: the split made here)."""
        if compiled:
            return linsolve.residual_function(a, reuse)
        pattern = reuse["residual"][2]
        return linsolve.Residual(
            pattern.stacked_indptr,
            pattern.stacked_indices,
            linsolve._split_values(a.data, pattern),
            a.shape[1],
            linsolve._X_BITS,
            pattern.addresses,
        )

    compiled, plain = made(True), made(False)
    if not all(np.array_equal(p, q) for p, q in zip(compiled.rounded(b, x), plain.rounded(b, x), strict=True)):
        raise SystemExit("the compiled residual differs from numpy's: fix that first")
    rounds = max(10, rounds_377 * 377 // n)
    times = interleaved(
        {"compiled": lambda: made(True).rounded(b, x), "numpy": lambda: made(False).rounded(b, x)}, rounds
    )
    fast, slow = times["compiled"], times["numpy"]
    ratio = statistics.median(p / q for p, q in zip(fast, slow, strict=True))
    cells = [f"{1e6 * statistics.median(fast):.0f}", f"{1e6 * statistics.median(slow):.0f}", f"{ratio:.2f}"]
    return n, a.nnz, cells


if __name__ == "__main__":
    main()
