"""Sparse solvers behind one interface, chosen by measured crossovers.

The CEM system with one electrode potential fixed is symmetric positive
definite.  :func:`factorize` with ``backend="auto"`` takes, in order:

1. CHOLMOD (scikit-sparse), when importable;
2. PARDISO (pypardiso, Intel MKL; a default dependency on x86_64 Linux and
   Windows, where its wheels exist) for 3D models; in 2D SuperLU was faster
   at every size measured (:data:`PARDISO_SKIP_DIMS`);
3. otherwise (2D, other platforms, or an install without pypardiso):
   scipy's SuperLU up to a crossover size that depends on
   the dimension and element order (:data:`SPLU_MAX_UNKNOWNS`), and
   AMG-preconditioned conjugate gradients (pyamg) above it, where SuperLU's
   fill-in makes it slower than AMG and eventually impractical.

A factorisation (or AMG hierarchy) is made once per conductivity and solves all
current and adjoint patterns as one block.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femeit.errors import FemeitError

Solve = Callable[[np.ndarray], np.ndarray]
BACKENDS = ("auto", "cholmod", "pardiso", "splu", "amg")

# Largest system (unknowns) for which ``auto`` prefers SuperLU to AMG-CG when no
# faster direct solver is installed, per (dimension, element order).  Measured
# with benchmarks/solver_crossover.py (factorisation or AMG set-up + 16 solves,
# CPU time, unit-cube stiffness + boundary mass, one thread, 2 samples):
#   3D P1: 10.6k unknowns splu 0.35 s / amg 0.51 s; 19.7k 1.04 / 0.95; 39.3k 4.1 / 1.7
#          -> crossover ~20k (issue 25 measured 20-40k on the KGPSR cylinder);
#   3D P2: 9.3k unknowns splu 0.67 s / amg 0.62 s; 19.7k 3.6 / 1.5 -> crossover ~9k;
#   2D: SuperLU's fill grows like n log n, so it stays ahead of AMG far longer.
SPLU_MAX_UNKNOWNS = {
    (3, 1): 20_000,
    (3, 2): 9_000,
    (2, 1): 1_000_000,
    (2, 2): 1_000_000,
}
# Dimensions where ``auto`` leaves PARDISO aside for SuperLU/AMG.  Measured with
# benchmarks/solver_crossover.py's model systems, 16 right-hand sides, CPU s of
# factorisation + solves (PARDISO's two threads both counted), loaded machine:
#   2D P1: 20k unknowns splu 0.09 / pardiso 0.16; 80k 0.58 / 0.89; 300k 3.3 / 4.1
#          (2D CEM disk, 5.5k: 0.05 / 0.28): SuperLU's 2D fill is small and
#          PARDISO's ordering and threading overheads dominate;
#   3D P1: 4.9k splu 0.15 / pardiso 0.10; 10.6k 0.50 / 0.16: PARDISO from the smallest.
PARDISO_SKIP_DIMS = (2,)
# Without dimension/order (callers that pass neither): the old fixed switch.
SPLU_MAX_UNKNOWNS_UNKNOWN = 100_000
# Iterative-refinement steps after each PARDISO solve (see _pardiso).
PARDISO_REFINEMENT_STEPS = 1
# Relative residual at which AMG-preconditioned CG stops.
AMG_RTOL = 1e-10


def _cholmod(a: sp.csc_matrix, reuse: dict | None) -> Solve:
    from sksparse.cholmod import analyze

    # The fill-reducing ordering depends only on the sparsity pattern, which is
    # the same for every conductivity of a model: analyse once, factor often.
    if reuse is not None and "cholmod" in reuse:
        factor = reuse["cholmod"].cholesky(a)
    else:
        analysis = analyze(a)
        if reuse is not None:
            reuse["cholmod"] = analysis
        factor = analysis.cholesky(a)
    return lambda b: factor(b)


def _split(values: np.ndarray, largest: np.ndarray, bits: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """``values = high + low`` exactly, ``high`` a multiple of ``2^(e - bits)`` where ``largest <= 2^e``.

    Rump's error-free extraction (Rump, Ogita & Oishi, "Accurate floating-point
    summation part I", SIAM J. Sci. Comput. 31(1), 2008, Algorithm 3.2,
    ExtractScalar): ``high = (sigma + v) - sigma`` with ``sigma = 2^(e + 53 - bits)``
    rounds v to that multiple, and ``low = v - high`` is exact.  ``largest``
    and ``bits`` broadcast against ``values``.
    """
    exponent = np.ceil(np.log2(np.where(largest > 0, largest, 1.0)))
    sigma = np.exp2(exponent + 53 - bits)
    high = (sigma + values) - sigma
    return high, values - high


def residual_function(a: sp.spmatrix) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``residual(b, x)``: ``b - a x`` for float64 ``b`` and ``x`` of shape (n, k), to far better than float64.

    Computed in float64 with three sparse products, by splitting ``a = a1 + a2``
    (per row) and ``x = x1 + x2`` (per column) so that every product of ``a1``
    and ``x1`` entries and every partial row sum of ``a1 @ x1`` is an exact
    multiple of one quantum below 2^53 of it: ``a1 @ x1`` is then exact (the
    splitting of Ozaki, Ogita, Oishi & Rump, "Error-free transformations of
    matrix multiplication by using fast routines of matrix multiplication",
    Numer. Algorithms 59, 2012, applied to a sparse row of ``m`` entries: x1
    keeps 24 bits, a1 keeps ``52 - 24 - ceil(log2 m)``).  The remaining terms
    ``a1 @ x2 + a2 @ x`` are at most 2^-19 of ``|a| |x|`` for rows of up to 512
    entries, so their float64 rounding errs by ~2^-19 eps ``|a| |x|``: the
    residual of a backward-stable solution (itself ~eps ``|a| |x|``) comes out
    with several correct digits, on every platform.  We chose this over
    ``np.longdouble``, which is float64 on Windows and on ARM macOS and, where it
    is wider (x86 Linux: 64-bit mantissa), was 7 times slower than one float64
    product on a P2 system, and less accurate (2^-11 eps per term).
    """
    a = sp.csr_matrix(a, dtype=float)
    if not a.has_canonical_format:  # duplicates summed on a copy, never in the caller's arrays
        a = a.copy()
        a.sum_duplicates()
    row_length = np.diff(a.indptr)
    row_max = np.zeros(a.shape[0])
    filled = row_length > 0
    row_max[filled] = np.maximum.reduceat(np.abs(a.data), a.indptr[:-1][filled])
    x_bits = 24
    a_bits = 52 - x_bits - np.ceil(np.log2(np.maximum(row_length, 1)))
    high, low = _split(a.data, np.repeat(row_max, row_length), np.repeat(a_bits, row_length))
    a1 = sp.csr_matrix((high, a.indices, a.indptr), shape=a.shape)
    a2 = sp.csr_matrix((low, a.indices, a.indptr), shape=a.shape)

    def residual(b: np.ndarray, x: np.ndarray) -> np.ndarray:
        x1, x2 = _split(x, np.abs(x).max(axis=0), x_bits)
        return (b - a1 @ x1) - (a1 @ x2 + a2 @ x)

    return residual


def refined(a: sp.spmatrix, solve: Solve, steps: int) -> Solve:
    """``solve`` followed by ``steps`` steps of mixed-precision iterative refinement.

    Each step computes the residual ``b - a x`` to better than float64
    (:func:`residual_function`) and adds ``solve(residual)`` (Wilkinson's
    refinement; Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd
    ed., SIAM 2002, ch. 12).  With a residual more accurate than the
    factorisation's precision, one step brings a backward-stable solution to
    the float64 rounding of the exact one while cond(a) eps < 1.

    Parameters
    ----------
    a : sparse matrix, shape (n, n)
    solve : callable
        An approximate ``a^-1 b`` for b of shape (n,) or (n, k).
    steps : int
        Refinement steps (0: ``solve`` itself).
    """
    if steps <= 0:
        return solve
    residual = residual_function(a)

    def solve_refined(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        x = solve(b)
        shape = x.shape
        b2, x2 = b.reshape(len(b), -1), x.reshape(len(x), -1)
        for _ in range(steps):
            x2 = x2 + np.asarray(solve(residual(b2, x2))).reshape(x2.shape)
        return x2.reshape(shape)

    return solve_refined


_PARDISO_TEMPLATE: list = []


def _new_pardiso_solver():
    """A fresh ``pypardiso.PyPardisoSolver`` (SPD), without finding MKL again.

    pypardiso's constructor locates ``mkl_rt`` with ``ctypes.util.find_library``,
    which runs a subprocess: 0.4 s CPU per solver, more than the whole
    factorisation of a 2D model.  We construct one solver per process and give
    each factorisation a shallow copy with its own handle and parameter arrays.
    """
    import pypardiso

    if not _PARDISO_TEMPLATE:
        _PARDISO_TEMPLATE.append(pypardiso.PyPardisoSolver(mtype=2))  # real symmetric positive definite
    template = _PARDISO_TEMPLATE[0]
    solver = copy.copy(template)
    solver.pt = np.zeros_like(template.pt)  # MKL's handle of this factorisation
    solver.iparm = np.zeros_like(template.iparm)
    solver.perm = np.zeros_like(template.perm)
    return solver


_PARDISO_PARAMETERS: list = []


def _pardiso_parameters(solver) -> np.ndarray:
    """MKL's default ``iparm`` for a real SPD matrix (``pardisoinit``), less its float64 refinement.

    MKL's defaults refine every solve twice with a float64 residual
    (``iparm[7] = 2``): three solves' cost for no gain in accuracy (measured on
    the KGPSR cylinder: 1.0e-13 from the exact solution with them, 1.4e-13
    without), since a residual in the factorisation's own precision cannot
    improve a backward-stable solution.  We set ``iparm[7] = 0`` and refine
    once with an extended-precision residual instead (:func:`refined`: 1.4e-16,
    for two solves' cost).
    """
    if not _PARDISO_PARAMETERS:
        import ctypes

        iparm = np.zeros(64, dtype=np.int32)
        handle = np.zeros(64, dtype=np.int64)
        init = solver.libmkl.pardisoinit
        init.restype = None
        init.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_void_p]
        init(handle.ctypes.data, ctypes.byref(ctypes.c_int32(solver.mtype)), iparm.ctypes.data)
        iparm[7] = 0
        _PARDISO_PARAMETERS.append(iparm)
    return _PARDISO_PARAMETERS[0].copy()


def _pardiso(a: sp.csr_matrix, reuse: dict | None = None) -> Solve:
    solver = _new_pardiso_solver()
    upper = sp.triu(a, format="csr")
    solver.iparm[:] = _pardiso_parameters(solver)
    # The fill-reducing ordering (METIS nested dissection, a third of a 3D
    # factorisation's time) depends only on the sparsity pattern, the same for
    # every conductivity of a model: MKL returns it the first time (iparm[4] =
    # 2) and is given it back later (iparm[4] = 1), which skips the ordering.
    known = reuse.get("pardiso") if reuse is not None else None
    if known is not None and np.array_equal(known[0], upper.indptr) and np.array_equal(known[1], upper.indices):
        solver.perm = known[2].copy()
        solver.iparm[4] = 1
    else:
        solver.perm = np.zeros(upper.shape[0], dtype=np.int32)
        solver.iparm[4] = 2
    solver.factorize(upper)
    if reuse is not None and solver.iparm[4] == 2:
        reuse["pardiso"] = (upper.indptr.copy(), upper.indices.copy(), solver.perm.copy())

    def solve(b: np.ndarray) -> np.ndarray:
        return solver.solve(upper, np.asfortranarray(b))

    # MKL keeps the factor until told to release it, and pypardiso never does:
    # without this, every factorisation leaked its factor (53 MB each on a
    # 27k-unknown 3D system).  Released when the solve function is collected;
    # phase -1 ("everything": all memory of this solver's own handle), since
    # phase 0 still leaked 20 MB per factorisation.
    weakref.finalize(solve, solver.free_memory, everything=True)
    # Why refine: a solve is accurate only to ~cond(A) eps (3e-13 relative on
    # a 2D CEM tank, whose contact-impedance rows make cond ~1e6), and MKL's
    # error, unlike SuperLU's, is not smooth in the matrix: conductivities one
    # rounding apart gave voltages 1e-13 apart (SuperLU: 4e-16), which an
    # inverse method started at the truth amplifies.  One step with an
    # extended-precision residual brings the solution to the float64 rounding
    # of the exact one (PARDISO and SuperLU-refined then agree to ~3e-16); a
    # float64 residual gave no gain (measured).
    return refined(a, solve, PARDISO_REFINEMENT_STEPS)


def _splu(a: sp.csc_matrix) -> Solve:
    # MMD on A' + A is the right ordering for a symmetric matrix, and an SPD
    # matrix needs no pivoting: diag_pivot_thresh=0 keeps the diagonal pivots
    # and the symmetric ordering (three times faster than threshold pivoting).
    lu = spla.splu(a, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu.solve


def block_pcg(
    a: sp.csr_matrix, b: np.ndarray, precondition: Callable[[np.ndarray], np.ndarray], rtol: float, maxiter: int = 2000
) -> np.ndarray:
    """Preconditioned CG on all columns of ``b`` at once, one shared preconditioner.

    Each column runs its own CG recurrence (its own step lengths, so the result
    is that of independent CG runs), but the columns advance together: the
    product with ``a`` is one sparse-times-dense-block product per iteration and
    converged columns drop out.  We chose this over block CG (O'Leary 1980,
    Linear Algebra Appl. 29:293-322), whose shared Krylov space breaks down when
    the right-hand sides are linearly dependent, as the 16 adjacent patterns are
    (they sum to zero).

    Parameters
    ----------
    a : sparse matrix, shape (n, n)
        Symmetric positive definite.
    b : ndarray, shape (n, k)
    precondition : callable
        ``precondition(r)`` for r of shape (n, m), m <= k: an SPD approximation of ``a^-1 r``.
    rtol : float
        Each column stops when ``||b_j - a x_j|| <= rtol ||b_j||``.

    Returns
    -------
    x : ndarray, shape (n, k)
    """
    x = np.zeros_like(b)
    r = b.copy()
    target = rtol * np.linalg.norm(b, axis=0)
    active = np.flatnonzero(np.linalg.norm(r, axis=0) > target)
    z = precondition(r[:, active])
    p = z.copy()
    rz = np.einsum("ij,ij->j", r[:, active], z)
    for _ in range(maxiter):
        if not len(active):
            return x
        ap = a @ p
        alpha = rz / np.einsum("ij,ij->j", p, ap)
        x[:, active] += alpha * p
        r[:, active] -= alpha * ap
        going = np.linalg.norm(r[:, active], axis=0) > target[active]
        active, p, rz = active[going], p[:, going], rz[going]
        if not len(active):
            return x
        z = precondition(r[:, active])
        rz_new = np.einsum("ij,ij->j", r[:, active], z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    raise FemeitError(
        f"AMG-preconditioned CG did not converge to {rtol} in {maxiter} iterations on {len(active)} patterns"
    )


def _amg(a: sp.csr_matrix, rtol: float = AMG_RTOL) -> Solve:
    import pyamg

    # The hierarchy (the expensive part) is built once per matrix and serves
    # every right-hand side; one V-cycle per column is the preconditioner.
    hierarchy = pyamg.smoothed_aggregation_solver(sp.csr_matrix(a), symmetry="symmetric")
    v_cycle = hierarchy.aspreconditioner(cycle="V")

    def precondition(r: np.ndarray) -> np.ndarray:
        return np.column_stack([v_cycle @ r[:, j] for j in range(r.shape[1])])

    def solve(b: np.ndarray) -> np.ndarray:
        b2 = np.asarray(b, dtype=float).reshape(len(b), -1)
        return block_pcg(a, b2, precondition, rtol).reshape(b.shape)

    return solve


def available_backends() -> list[str]:
    """The backends that can be imported here, in the order ``auto`` tries them."""
    found = []
    for name, module in (("cholmod", "sksparse.cholmod"), ("pardiso", "pypardiso")):
        try:
            __import__(module)
            found.append(name)
        except (ImportError, OSError):  # pypardiso raises ImportError when MKL's library is missing
            pass
    found.append("splu")
    try:
        __import__("pyamg")
        found.append("amg")
    except ImportError:
        pass
    return found


def choose_backend(n_unknowns: int, dim: int | None = None, order: int | None = None) -> str:
    """The backend ``auto`` uses for a system of ``n_unknowns`` from a ``dim``-D, order-``order`` model.

    The fastest installed direct solver (CHOLMOD, then PARDISO except in the
    dimensions of ``PARDISO_SKIP_DIMS``); otherwise SuperLU up to
    ``SPLU_MAX_UNKNOWNS[dim, order]`` unknowns and AMG-CG above.
    """
    found = available_backends()
    if found[0] == "pardiso" and dim in PARDISO_SKIP_DIMS:
        found = found[1:]
    if found[0] != "splu":
        return found[0]
    limit = SPLU_MAX_UNKNOWNS.get((dim, order), SPLU_MAX_UNKNOWNS_UNKNOWN)
    return "amg" if n_unknowns > limit and "amg" in found else "splu"


def factorize(
    a: sp.spmatrix,
    backend: str = "auto",
    reuse: dict | None = None,
    *,
    dim: int | None = None,
    order: int | None = None,
) -> Solve:
    """Factor a sparse SPD matrix; return ``solve(b)`` for b of shape (n,) or (n, k).

    Parameters
    ----------
    a : sparse matrix, shape (n, n)
        Symmetric positive definite.
    backend : {"auto", "cholmod", "pardiso", "splu", "amg"}
        ``auto``: :func:`choose_backend`.  ``amg`` is pyamg's smoothed
        aggregation as a preconditioner of conjugate gradients (relative
        residual ``AMG_RTOL`` per column, :func:`block_pcg`).
    reuse : dict, optional
        A dict the caller keeps between calls with matrices of the same
        sparsity pattern; CHOLMOD stores its symbolic analysis there, PARDISO
        its fill-reducing ordering (with the pattern, which is checked).
    dim, order : int, optional
        Dimension and element order of the model the matrix comes from; they
        select ``auto``'s SuperLU/AMG crossover.
    """
    if backend not in BACKENDS:
        raise FemeitError(f"unknown linear solver {backend!r}; choose one of {BACKENDS}")
    name = choose_backend(a.shape[0], dim, order) if backend == "auto" else backend
    try:
        if name == "cholmod":
            return _cholmod(sp.csc_matrix(a), reuse)
        if name == "pardiso":
            return _pardiso(sp.csr_matrix(a), reuse)
        if name == "amg":
            return _amg(sp.csr_matrix(a))
        return _splu(sp.csc_matrix(a))
    except (ImportError, OSError):
        raise FemeitError(f"linear solver {name!r} is not installed here; available: {available_backends()}") from None
    except RuntimeError as exc:  # SuperLU reports a singular matrix this way
        raise FemeitError(f"the system matrix could not be factored ({exc}); is the model grounded?") from None
