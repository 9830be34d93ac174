"""Where AMG-preconditioned CG overtakes SuperLU, per dimension and element order.

For each (dimension, order) and a ladder of sizes, this times, in the same
process and interleaved, the two fallbacks of :func:`femeit.forward.linsolve.factorize`
that need nothing beyond the default install (``splu`` and ``amg``) on a
model-like SPD system (unit-cube stiffness plus a boundary mass, the shape of a
grounded complete-electrode system) with 16 right-hand sides: factorisation or
hierarchy set-up plus all solves.  It reports CPU time (``time.process_time``,
which is less disturbed by other processes than wall time) and, when PARDISO is
installed, its time beside them.  The crossovers written in
``femeit.forward.linsolve.SPLU_MAX_UNKNOWNS`` come from runs of this script.

Run: ``python benchmarks/solver_crossover.py [--dims 3] [--orders 1 2] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import scipy.sparse as sp
import skfem
from skfem.helpers import dot, grad

from femeit.forward.linsolve import available_backends, factorize

ELEMENTS = {
    (2, 1): (skfem.MeshTri, skfem.ElementTriP1),
    (2, 2): (skfem.MeshTri, skfem.ElementTriP2),
    (3, 1): (skfem.MeshTet, skfem.ElementTetP1),
    (3, 2): (skfem.MeshTet, skfem.ElementTetP2),
}


@skfem.BilinearForm
def _laplace(u, v, _):
    return dot(grad(u), grad(v))


@skfem.BilinearForm
def _mass(u, v, _):
    return u * v


def model_system(dim: int, order: int, n_unknowns: int) -> sp.csr_matrix:
    """Stiffness of the unit cube (square) plus its boundary mass, about ``n_unknowns`` unknowns."""
    mesh_type, element = ELEMENTS[dim, order]
    per_side = max(2, round((n_unknowns ** (1 / dim) - 1) / order))
    ticks = np.linspace(0, 1, per_side + 1)
    mesh = mesh_type.init_tensor(*([ticks] * dim))
    basis = skfem.Basis(mesh, element())
    facets = skfem.FacetBasis(mesh, element())
    return (_laplace.assemble(basis) + _mass.assemble(facets)).tocsr()


def cpu_time(fn, repeat: int) -> tuple[float, float]:
    """Median and spread (max - min) of the CPU time of ``fn``, s."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times), max(times) - min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 10_000, 20_000, 40_000, 80_000, 160_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    backends = [b for b in ("splu", "amg", "pardiso") if b in available_backends()]
    print(f"load average {os.getloadavg()}; backends {backends}; CPU s, median of {args.repeat} (spread)")
    print("| dim | order | unknowns | " + " | ".join(backends) + " |")
    print("|---|---|---|" + "---|" * len(backends))
    rhs_rng = np.random.default_rng(0)
    for dim in args.dims:
        for order in args.orders:
            for size in args.sizes:
                a = model_system(dim, order, size)
                b = rhs_rng.standard_normal((a.shape[0], 16))
                cells = []
                for name in backends:  # interleaved: every backend at this size before the next size
                    median, spread = cpu_time(lambda name=name, a=a, b=b: factorize(a, name)(b), args.repeat)
                    cells.append(f"{median:.3g} ({spread:.2g})")
                print(f"| {dim} | {order} | {a.shape[0]} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
