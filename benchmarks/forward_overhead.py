"""What a small forward solve costs beyond the floor, and how much of it is Python layering.

Run:  python benchmarks/forward_overhead.py [--h 0.4] [--rounds 200]

On a ball with 16 point electrodes (``--h 0.4``: 377 unknowns, 0.25: 877) four
calls are interleaved in a Williams design (``timing.balanced_orders``), each on
a new conductivity:

- ``femeit``: ``model.simulate``;
- ``straight line``: only the operations ``simulate`` needs, one after the other
  with no function layers: validation, assembly, the conditioning check, the
  refinement split, MKL's factorisation and sparse solve called directly on a
  handle analysed as a model analyses it, the rounded residual, the correction
  and the readings (the residual and the readings by the compiled loops of
  ``femeit.forward.kernels`` where numba is installed, as ``simulate`` computes
  them).  It gives the same readings bit for bit (checked before timing);
- ``floor``: ``timing.floor_factorize`` + the sparse solve of the current
  patterns, as in ``floor_ratio.py`` (through ``linsolve.factorize``, femeit's
  binding to MKL);
- ``bare floor``: MKL's factorisation and sparse solve alone, called directly
  with everything prepared.

The straight line is what femeit would cost with no Python layering at all; the
bare floor is the floor without its own binding's layering.  The model is used
through its public API only; the straight line calls private functions of
``femeit.forward.linsolve`` (the kept PARDISO handle's ``call`` and the split
pattern): it is a measurement, not an example of use, and it stops if its
readings are no longer ``simulate``'s bit for bit.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np
from timing import as_given_by_models, balanced_orders, bare_pardiso_floor, commit, floor_factorize

import femeit as fe
from femeit.forward import ForwardModel, linsolve
from femeit.protocol import Protocol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--h", type=float, default=0.4, help="the ball's mesh size (0.4: 377 unknowns)")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if "pardiso" not in linsolve.available_backends():
        raise SystemExit("this measurement needs PARDISO (pypardiso)")
    mesh = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=args.h, h_electrode=args.h / 2))
    model = ForwardModel(mesh, Protocol.adjacent(16), electrode_model="point")
    rng = np.random.default_rng(1)
    draws = [np.exp(0.3 * rng.standard_normal(mesh.n_elements)) for _ in range(50)]
    systems = [model.system_matrix(s) for s in draws]
    plan, protocol = model.discretization.plan, model.protocol
    n = plan.size
    rows = plan.renumber[model.discretization.electrode_unknowns[1:]]  # where the current patterns enter
    patterns = np.zeros((n, 16))
    patterns[rows] = protocol.injections[:, 1:].T
    patterns = as_given_by_models(patterns)

    # The straight line's own analysed PARDISO handle and split pattern, made as a model makes them.
    reuse: dict = {}
    solve = linsolve.factorize(systems[3], "pardiso", reuse, dim=3, order=1, rhs_rows=rows)
    del solve
    gc.collect()  # the solve function that held the handle is gone: the handle is idle, ours
    pattern = reuse["pardiso"]
    handle = pattern.handles[0]
    split_pattern = pattern.residual_pattern(systems[3])
    kernels = linsolve.compiled_loops()  # the compiled residual, where numba is installed (as simulate uses it)
    scatter, mirror, diagonal = plan.upper_scatter, plan.mirror, plan.diagonal
    rhs_f, rhs_c = patterns, np.ascontiguousarray(patterns)
    no_rhs = np.zeros((n, 1))
    no_rhs_address, rhs_f_address = no_rhs.ctypes.data, rhs_f.ctypes.data
    ia, ja, perm = pattern.addresses
    sparse_blas = linsolve._mkl_sparse()
    weights = np.ascontiguousarray(protocol.measurements[:, 1:])  # electrode 0 is the ground
    index = rows[None, :] * 16 + protocol.row_injection[:, None]
    # Each row's measurement pattern as a multiple of a current pattern (the adjacent protocol
    # measures driven pairs): its adjoint field is that pattern's field, scaled.
    leading = {}
    for p, pattern_p in enumerate(protocol.injections):
        first = pattern_p[np.flatnonzero(pattern_p)[0]]
        leading.setdefault((np.round(pattern_p / first, 12) + 0.0).tobytes(), (p, first))
    pairs = []
    for m in protocol.measurements:
        first = m[np.flatnonzero(m)[0]]
        p, first_p = leading[(np.round(m / first, 12) + 0.0).tobytes()]
        pairs.append((p, first / first_p))
    correction_index = np.array([p for p, _ in pairs]) * 16 + protocol.row_injection
    correction_scale = np.array([scale for _, scale in pairs])
    x_shift = linsolve._shift_bits(24)
    # Each row's terms of non-zero weight (the adjacent protocol's two), for the compiled readings.
    width = int((weights != 0).sum(axis=1).max())
    order = np.argsort(weights == 0, axis=1, kind="stable")[:, :width]
    terms = tuple(np.ascontiguousarray(np.take_along_axis(v, order, axis=1)) for v in (index, weights))
    def straight_line(i: int) -> np.ndarray:
        sigma = draws[i]
        if not (sigma.min() > 0 and sigma.max() < np.inf):
            raise ValueError("conductivity")
        upper = scatter @ sigma
        full = upper[mirror]
        d = full[diagonal]
        if not (d.min() > 0 and d.max() < np.inf):
            raise ValueError("diagonal")
        if kernels is None:
            split = linsolve._split_values(full, split_pattern)
        handle.iparm[30] = 2
        data = upper.ctypes.data
        handle.call(22, n, 1, data, ia, ja, perm, no_rhs_address, no_rhs_address)
        x = np.zeros((n, 16), order="F")
        handle.call(33, n, 16, data, ia, ja, handle.marker_copy(pattern.marker), rhs_f_address, x.ctypes.data)
        if kernels is not None:
            x1, residual = kernels.rounded_residual(
                full, split_pattern.indptr, split_pattern.indices, split_pattern.row_extra, x, rhs_c, 29
            )
        else:
            x_shift_values = linsolve._rounding_shift_in_place(np.abs(x).max(axis=0), x_shift)
            x1 = np.add(x, x_shift_values, order="C")
            x1 -= x_shift_values
            addresses = (*split_pattern.addresses, split.ctypes.data)
            product = linsolve._mkl_rows_product(sparse_blas, *addresses, 0, 2 * n, n, x1)
            residual = np.subtract(rhs_c, product[:n])
            residual -= product[n:]
        if kernels is not None:
            return kernels.pair_readings(x1, *terms, x.T @ residual, correction_index, correction_scale)
        correction = (x.T @ residual).take(correction_index) * correction_scale
        readings = np.einsum("ij,ij->i", weights, x1.take(index))
        readings += correction
        return readings

    bare = bare_pardiso_floor(systems[0], rows)

    def bare_floor(i: int) -> np.ndarray:
        return bare(systems[i], patterns)

    floor_handles: dict = {}  # the floor's own pattern and handle
    calls = {
        "femeit": lambda i: model.simulate(draws[i]),
        "straight line": straight_line,
        "floor": lambda i: floor_factorize(systems[i], "pardiso", floor_handles, rows)(patterns),
        "bare floor": bare_floor,
    }
    same = np.array_equal(straight_line(5), model.simulate(draws[5]))
    print(f"femeit at {commit()}; {mesh.n_elements} tetrahedra, {n} unknowns; straight line = simulate: {same}")
    if not same:
        raise SystemExit("the straight line no longer computes what simulate does: update this script")
    for call in calls.values():
        call(1)
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    count = 2
    for order in balanced_orders(len(names), args.rounds):
        for k in order:
            count += 1
            start = time.perf_counter()
            calls[names[k]](count % len(draws))
            times[names[k]].append(time.perf_counter() - start)
    for name in names:
        ratios = {
            reference: statistics.median(a / b for a, b in zip(times[name], times[reference], strict=True))
            for reference in ("floor", "bare floor")
        }
        median = 1e6 * statistics.median(times[name])
        print(
            f"{name:14s} {median:8.0f} us   / floor: median {ratios['floor']:.2f}"
            f"   / bare floor: median {ratios['bare floor']:.2f}"
        )


if __name__ == "__main__":
    main()
