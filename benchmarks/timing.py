"""Shared timing helper of the benchmark scripts."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable

import numpy as np


def median_time(fn: Callable[[], object], repeat: int = 50) -> float:
    """Median wall time of ``repeat`` calls of ``fn``, s."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def balanced_orders(k: int, samples: int) -> list[list[int]]:
    """Call orders for interleaved rounds of ``k`` calls, balanced for the call that precedes each.

    A Williams design (E. J. Williams, "Experimental designs balanced for the
    estimation of residual effects of treatments", Aust. J. Sci. Res. A 2, 1949):
    the rows ``w + r (mod k)`` of ``w = 0, 1, k-1, 2, k-2, ...``, and for odd
    ``k`` their mirror images too.  Within the rows every call follows every
    other call equally often, so what one call leaves in the caches (a large
    call walks through far more memory) falls on all the others alike; with
    orders alternating forwards and backwards, the second call of ``k = 4``
    always followed the first or the third, and the last followed itself.
    ``samples`` is rounded up to a whole number of designs (k rows for even k,
    2 k for odd).
    """
    w, low, high = [0], 1, k - 1
    while len(w) < k:
        w.append(low) if len(w) % 2 == 1 else w.append(high)
        low, high = (low + 1, high) if len(w) % 2 == 0 else (low, high - 1)
    rows = [[(x + r) % k for x in w] for r in range(k)]
    if k % 2 == 1 and k > 1:
        rows += [row[::-1] for row in rows]
    rounds = -(-max(samples, 1) // len(rows)) * len(rows)
    return [rows[i % len(rows)] for i in range(rounds)]


def interleaved(calls: dict[str, Callable[[], object]], samples: int) -> dict[str, list[float]]:
    """Wall times of at least ``samples`` rounds of every call, interleaved.

    Each round runs every call once, in the orders of :func:`balanced_orders`,
    so a change of machine load during the run, and what each call leaves in
    the caches, fall on all calls alike.

    Returns
    -------
    dict
        Name -> list of wall times (one per round), s.
    """
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for order in balanced_orders(len(names), samples):
        for index in order:
            name = names[index]
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


def faster(*times: list[float]) -> list[float]:
    """The time list with the smallest median: the floor is the faster method, not the luckier of two per round.

    Taking the minimum of two methods round by round would bias the floor
    downwards by the noise alone (the smaller of two draws).
    """
    return min(times, key=statistics.median)


def spread(times: list[float]) -> str:
    """``median (min-max)`` of a list of times, s; ``-`` when empty."""
    if not times:
        return "-"
    return f"{statistics.median(times):.3g} ({min(times):.3g}-{max(times):.3g})"


def ratio(numerator: list[float], denominator: list[float]) -> str:
    """Median and range of the per-round ratios of two interleaved time lists; ``-`` when either is empty."""
    if not numerator or not denominator:
        return "-"
    r = [a / b for a, b in zip(numerator, denominator, strict=False)]
    return f"{statistics.median(r):.3g} ({min(r):.3g}-{max(r):.3g})"


def as_given_by_models(rhs: np.ndarray) -> np.ndarray:
    """Right-hand sides as femeit's models hand them to the solvers: a Fortran-ordered, read-only copy.

    The floor's solves get the same advantages as femeit's: PARDISO reads a
    Fortran-ordered array as it is and returns the solution in that order
    uncopied, and checks once whether an unchangeable array lies in the
    sparse solve's rows (a writeable C-ordered one is copied, checked on
    every call and its solution copied back).
    """
    out = np.array(rhs, dtype=float, order="F")
    out.flags.writeable = False
    return out


def floor_factorize(a, backend: str, reuse: dict | None = None, rhs_rows=None):
    """Factor ``a`` with ``backend`` and no iterative refinement: the bare factorisation + solves.

    femeit refines each PARDISO solve once (``linsolve.PARDISO_REFINEMENT_STEPS``);
    the floor leaves that out (``factorize(..., refine=False)``), so femeit / floor includes its cost.  ``reuse``
    is the dict femeit's models keep between conductivities: pass the same
    one to every call (and make one call before timing) so the floor, like
    femeit, reuses what depends only on the sparsity pattern (the fill-reducing
    ordering and, for PARDISO, the symbolic analysis on one MKL handle: phase 22
    alone per matrix once the previous call's solve function is gone).
    ``rhs_rows``: the rows of the forward's current patterns, for PARDISO's
    sparse right-hand-side solve as femeit's models use it (pass the patterns
    themselves as right-hand sides then).
    """
    from femeit.forward import linsolve

    return linsolve.factorize(a, backend, reuse, rhs_rows=rhs_rows, refine=False)


def bare_pardiso_floor(first, rows: np.ndarray) -> Callable:
    """The floor with no binding layers: MKL's factorisation and sparse solve called directly, all else prepared.

    ``first``: a system matrix of the model (CSR, float64, canonical), whose
    pattern is analysed once here (ordering and symbolic factorisation for
    the sparse solve of right-hand sides non-zero only in ``rows``, as femeit's
    models analyse theirs).  Returns ``floor(system, patterns)``: phase 22 on
    the values of ``system`` (same pattern) and phase 33 on ``patterns``
    (shape (n, k), Fortran-ordered, non-zero only in ``rows``), the solutions,
    shape (n, k).  It calls femeit's private PARDISO handle
    (``linsolve._PardisoHandle.call``, the addresses made once): a
    measurement of what MKL's own calls cost, not an example of use.
    """
    import gc

    from femeit.forward import linsolve

    reuse: dict = {}
    solve = floor_factorize(first, "pardiso", reuse, rows)
    del solve
    gc.collect()  # the solve function that held the handle is gone: the handle is idle, ours
    pattern = reuse["pardiso"]
    handle = pattern.handles[0]
    handle.user = linsolve._claimed  # no other factorisation takes it
    n = first.shape[0]
    ia, ja, perm = pattern.addresses
    no_rhs = np.zeros((n, 1))
    no_rhs_address = no_rhs.ctypes.data
    upper_index = pattern.upper

    def floor(system, patterns: np.ndarray) -> np.ndarray:
        upper = np.ascontiguousarray(system.data[upper_index])
        handle.iparm[30] = 2  # the sparse solve of right-hand sides in the marked rows
        data = upper.ctypes.data
        handle.call(22, n, 1, data, ia, ja, perm, no_rhs_address, no_rhs_address)
        x = np.zeros(patterns.shape, order="F")
        marker = handle.marker_copy(pattern.marker)
        handle.call(33, n, patterns.shape[1], data, ia, ja, marker, patterns.ctypes.data, x.ctypes.data)
        return x

    floor.reuse = reuse  # keeps the pattern (and so the handle) alive as long as the function
    return floor


def median_wall_cpu(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (``time.process_time``: all threads of this process) of ``repeat`` calls, s.

    On a loaded machine the wall time counts other processes' turns; the CPU
    time does not, and bounds the wall time the call would take alone.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def commit() -> str:
    """The femeit checkout's short commit, with ``+changes`` when its tracked files differ from it."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(root), "diff", "--quiet", "HEAD"], capture_output=True)
    except OSError:
        return "unknown commit"
    if head.returncode:
        return "unknown commit"
    return head.stdout.strip() + ("+changes" if dirty.returncode else "")
