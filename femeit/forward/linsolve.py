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

import os
import threading
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
# Analysed PARDISO handles kept per sparsity pattern: one per thread factoring at once (see _PardisoPattern).
PARDISO_HANDLES_KEPT = 4
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


def _split(values: np.ndarray, largest: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``values = high + low`` exactly, ``high`` a multiple of ``2^(e - bits)`` where ``largest <= 2^e``.

    Rump's error-free extraction (Rump, Ogita & Oishi, "Accurate floating-point
    summation part I", SIAM J. Sci. Comput. 31(1), 2008, Algorithm 3.2,
    ExtractScalar): ``high = (sigma + v) - sigma`` with ``sigma = 2^(e + 53 - bits)``
    rounds v to that multiple, and ``low = v - high`` is exact.  ``largest``
    broadcasts against ``values``.
    """
    high = _high_part(values, largest, bits)
    return high, values - high


_MANTISSA = np.int64(2**52 - 1)
_EXPONENT = np.int64(0x7FF << 52)


def _shift_bits(bits: int) -> int:
    """``53 - bits`` placed in a float64's exponent field: adding it multiplies by ``2^(53 - bits)``."""
    return (53 - bits) << 52


def _rounding_shift_in_place(largest: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """``sigma = 2^e * 2^k`` for ``2^e`` the least power of two ``>= largest``, made in ``largest``'s own memory.

    ``largest``: a float64 array of values ``>= 0`` that the caller made and
    gives up (it is overwritten).  ``exponent``: ``k`` in the exponent field
    (:func:`_shift_bits`), an int or an int64 array broadcasting against it.
    Adding all-ones to the 52 mantissa bits carries into the exponent unless
    the mantissa is zero (an exact power of two); masking keeps the exponent;
    adding ``exponent`` multiplies by ``2^k``.  Exact where ``2^ceil(log2 x)`` in
    floating point is not (x just above a power of two, where log2 rounds down
    onto the integer), and three in-place integer operations: fewer calls,
    which matters on the small arrays of a small model's forward solve.  A 0
    gives a tiny positive shift, harmless: the values it rounds are all 0.
    """
    bits = largest.view(np.int64)
    bits += _MANTISSA
    bits &= _EXPONENT
    bits += exponent
    return bits.view(np.float64)


def _rounding_shift(largest: np.ndarray, bits: int) -> np.ndarray:
    """``sigma = 2^(e + 53 - bits)``, ``2^e`` the least power of two ``>= largest``: ``(v + sigma) - sigma`` rounds."""
    return _rounding_shift_in_place(np.array(largest, dtype=np.float64), _shift_bits(bits))


def _high_part(values: np.ndarray, largest: np.ndarray, bits: int) -> np.ndarray:
    """``_split(values, largest, bits)[0]`` alone, in one new array (the rounded residual needs no low part)."""
    sigma = _rounding_shift(largest, bits)
    high = np.add(values, sigma)
    high -= sigma
    return high


def _column_max_abs(x: np.ndarray) -> np.ndarray:
    """``np.abs(x).max(axis=0)`` for ``x`` of shape (n, k), three times faster for a C-ordered x with small k.

    numpy reduces a C-ordered (n, k) array over its rows k entries at a time;
    viewed as (n / 32, 32 k) the inner loop is 32 times longer (11 instead of
    33 microseconds for 877 x 16).
    """
    magnitude = np.abs(x)
    n, k = magnitude.shape
    block = 32
    whole = n // block * block
    if not magnitude.flags.c_contiguous or whole == 0 or k == 0:
        return magnitude.max(axis=0, initial=0.0)
    head = magnitude[:whole].reshape(-1, block * k).max(axis=0).reshape(block, k).max(axis=0)
    return np.maximum(head, magnitude[whole:].max(axis=0, initial=0.0))


# Bits of each solution entry kept in x1 by residual_function's split.
_X_BITS = 24


def residual_function(a: sp.spmatrix, reuse: dict | None = None) -> Residual:
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

    Where numba is installed the split and the products run as compiled
    loops (:mod:`femeit.forward.kernels`: the same numbers bit for
    bit, in one pass); otherwise as numpy operations and sparse products.

    ``reuse``: a dict kept between matrices of one sparsity pattern (as in
    :func:`factorize`); the split's per-pattern index arrays are stored there.
    The returned :class:`Residual` also gives, with one product,
    the residual of ``x`` rounded to ``x1`` (:meth:`Residual.rounded`).
    """
    a = _canonical_csr(a)
    return _residual_of(a, _residual_pattern(a, reuse))


def _residual_of(a: sp.csr_matrix, pattern: _ResidualPattern) -> Residual:
    """:func:`residual_function` of a canonical ``a`` whose :class:`_ResidualPattern` is known."""
    kernels = compiled_loops()
    shape = (pattern.stacked_indptr, pattern.stacked_indices)
    if kernels is not None and pattern.row_extra is not None:
        # The matrix's own values (a copy: a caller may change its matrix later), split in the
        # compiled loops as they are read.  The stacked [a1; a2], which the whole residual (the
        # refinement of the fields) needs, is made from the same copy on first use (simulate
        # never asks for it: 1-2 ms saved per forward solve of the KGPSR cylinder).
        data = np.array(a.data)
        matrix = (kernels, data, pattern.indptr, pattern.indices, pattern.row_extra)
        values = lambda: _split_values(data, pattern)  # noqa: E731 - made on first use
        return Residual(*shape, values, a.shape[1], _X_BITS, pattern.addresses, matrix=matrix)
    return Residual(*shape, _split_values(a.data, pattern), a.shape[1], _X_BITS, pattern.addresses)


def _split_values(data: np.ndarray, pattern: _ResidualPattern) -> np.ndarray:
    """The values of the stacked matrix ``[a1; a2]`` of :func:`residual_function`, shape (2 nnz,).

    ``data``: the CSR values, shape (nnz,), of a matrix of ``pattern``'s sparsity pattern.
    """
    magnitude = np.abs(data)
    if pattern.filled is None:  # every row has entries (a grounded system always does)
        row_max = np.maximum.reduceat(magnitude, pattern.starts)
    else:
        row_max = np.zeros(len(pattern.filled))
        row_max[pattern.filled] = np.maximum.reduceat(magnitude, pattern.starts)
    # _split(a.data, row max per entry, a1's bits per entry) with the shift made per row
    # (row_exponent: _shift_bits of a1's bits, per pattern), written straight into the
    # values of the stacked matrix [a1; a2].
    shift = _rounding_shift_in_place(row_max, pattern.row_exponent)[pattern.entry_row]
    nnz = len(data)
    values = np.empty(2 * nnz)
    high = values[:nnz]
    np.add(shift, data, out=high)
    high -= shift
    np.subtract(data, high, out=values[nnz:])
    return values


_COMPILED: list = []


def compiled_loops():
    """:mod:`femeit.forward.kernels` where numba is installed, else None (numpy's operations).

    ``FEMEIT_NUMBA=0`` (or ``false``, ``no``, ``off``) leaves the compiled loops aside (the
    same numbers, slower).  An install where numba cannot start (no place for
    its cache, an incompatible numpy) gets numpy's operations too, and so does
    a process with numba's JIT switched off (``NUMBA_DISABLE_JIT=1``), where
    the loops would run as Python, a thousand times slower.
    """
    if not _COMPILED:
        module = None
        if os.environ.get("FEMEIT_NUMBA", "1").strip().lower() not in ("0", "false", "no", "off"):
            try:
                from femeit.forward import kernels as module
            except (ImportError, OSError, RuntimeError):
                module = None
            if module is not None and module.numba.config.DISABLE_JIT:
                module = None
        _COMPILED.append(module)
    return _COMPILED[0]


class Residual:
    """``b - a x`` to far better than float64, from the split ``a = a1 + a2`` (see :func:`residual_function`).

    Held as the CSR arrays of the stacked matrix ``[a1; a2]`` of shape
    (2 n, n_columns), so that one sparse product gives both ``a1 @ x`` and
    ``a2 @ x``.  The products run on MKL's sparse BLAS where MKL is loaded
    (with pypardiso, the only backend that refines): bit for bit the same
    numbers as scipy's here (every product of ``a1`` and ``x1`` is exact, and
    the rest is summed in row order), 1.3 times faster on one thread and 2 to 3
    times on two (scipy's is single-threaded), measured on an 877-unknown and a
    175k-unknown system with 16 columns.  ``addresses``: those of ``indptr``
    and ``indices`` (made once per pattern by :func:`residual_function`).
    ``values`` may be a function that makes them, called on first use.

    ``matrix``: ``(kernels, data, indptr, indices, row_extra)``, ``a``'s own
    CSR arrays (a copy of its values) with :mod:`femeit.forward.kernels` and
    ``53 - a1's bits`` per row; :meth:`rounded` then runs as a compiled loop,
    which gives the same numbers as the products.
    """

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        values: np.ndarray | Callable[[], np.ndarray],
        n_columns: int,
        x_bits: int,
        addresses: tuple[int, int] | None = None,
        *,
        matrix: tuple | None = None,
    ):
        self.indptr, self.indices = indptr, indices
        self._values = values
        self._addresses = addresses
        self.n = (len(indptr) - 1) // 2
        self.n_columns = int(n_columns)
        self.x_bits = x_bits
        self.matrix = matrix
        self._stacked: sp.csr_matrix | None = None
        self._halves: tuple[sp.csr_matrix, sp.csr_matrix] | None = None
        self._mkl_tuple: tuple | None = None  # (the MKL tuple or None,) once made
        # Threads sharing a factorisation (Dask's threaded workers) may first ask for the values
        # at once: they are made once, under this lock, and never replaced (MKL reads them by
        # address).
        self._lock = threading.Lock() if callable(values) else None

    @property
    def values(self) -> np.ndarray:
        """The stacked matrix's values, shape (2 nnz,) (made on first use where they were given as a function)."""
        if self._lock is not None:
            with self._lock:
                if callable(self._values):
                    self._values = self._values()
        return self._values

    @property
    def _mkl(self) -> tuple | None:
        """(MKL's functions, indptr's, indices' and values' addresses) for MKL's product, or None: scipy's."""
        if self._mkl_tuple is None:
            made = None
            indptr, indices, values = self.indptr, self.indices, self.values
            if indptr.dtype == np.int32 and indices.dtype == np.int32 and values.dtype == np.float64:
                functions = _mkl_sparse()
                if functions is not None and values.flags.c_contiguous:
                    addresses = self._addresses or (indptr.ctypes.data, indices.ctypes.data)
                    made = (functions, *addresses, values.ctypes.data)
            self._mkl_tuple = (made,)
        return self._mkl_tuple[0]

    @property
    def stacked(self) -> sp.csr_matrix:
        """``[a1; a2]`` as a scipy CSR matrix, shape (2 n, n_columns) (made on first use, sharing the arrays)."""
        if self._stacked is None:
            shape = (2 * self.n, self.n_columns)
            self._stacked = sp.csr_matrix((self.values, self.indices, self.indptr), shape=shape)
            self._stacked.has_canonical_format = True
        return self._stacked

    def halves(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``a1`` and ``a2`` as scipy CSR matrices (views of the stacked values), shape (n, n_columns) each."""
        if self._halves is None:
            n, nnz = self.n, len(self.values) // 2
            shape = (n, self.n_columns)
            indptr, indices = self.indptr[: n + 1], self.indices[:nnz]
            self._halves = tuple(
                sp.csr_matrix((part, indices, indptr), shape=shape) for part in (self.values[:nnz], self.values[nnz:])
            )
        return self._halves

    def _product(self, start: int, stop: int, x: np.ndarray) -> np.ndarray:
        """Rows ``start:stop`` (whole halves) of ``[a1; a2] @ x`` for ``x`` of shape (n_columns, k)."""
        if x.ndim != 2 or x.shape[0] != self.n_columns:  # MKL would read past x's end
            raise FemeitError(f"a matrix with {self.n_columns} columns cannot multiply x of shape {x.shape}")
        if not 0 <= start <= stop <= 2 * self.n:
            raise FemeitError(f"rows {start}:{stop} are not rows of a CSR matrix with {2 * self.n} rows")
        if self._mkl is not None and start < stop and x.size:
            out = _mkl_rows_product(*self._mkl, start, stop, self.n_columns, x)
            if out is not None:
                return out
        if start == 0 and stop == 2 * self.n:
            return self.stacked @ x
        a1, a2 = self.halves()
        return (a1 if start == 0 else a2) @ x

    def _check(self, b: np.ndarray, x: np.ndarray) -> None:
        """``b`` (n, k) and ``x`` (n_columns, k), or a FemeitError naming the shapes (the loops read by index)."""
        if x.ndim != 2 or b.ndim != 2 or x.shape[0] != self.n_columns or b.shape != (self.n, x.shape[1]):
            raise FemeitError(
                f"the residual of a ({self.n}, {self.n_columns}) matrix needs b of shape ({self.n}, k) and x of "
                f"shape ({self.n_columns}, k), got {b.shape} and {x.shape}"
            )

    def __call__(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``b - a x`` for ``b`` and ``x`` of shape (n, k): three sparse products of the matrix's size."""
        b = np.asarray(b, dtype=float)
        x = np.ascontiguousarray(x, dtype=float)
        self._check(b, x)  # once here, not once per product (MKL's reads x row-major)
        x1, x2 = _split(x, _column_max_abs(x), self.x_bits)
        n = self.n
        return (b - self._product(0, n, x1)) - (self._product(0, n, x2) + self._product(n, 2 * n, x))

    def rounded(self, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x1, b - a x1)`` with ``x1`` = ``x`` rounded to ``x_bits`` bits of its column's largest entry.

        One product with ``[a1; a2]`` instead of two: ``a1 @ x1`` is exact, and
        the residual, though now of the size of the rounding (2^-24 of
        ``|a| |x|``), is as accurate as ``__call__``'s in absolute terms.  For
        callers that correct linear functionals of a solution by an
        adjoint-weighted residual (the error left is the product of the
        adjoint's error and ``x1``'s, both small), ``x1`` serves as well as ``x``.
        ``x1`` is row-major whatever ``x``'s memory order (a Fortran-ordered
        ``x``, as PARDISO returns it, has its columns' maxima in two fast
        reductions).
        """
        if self.matrix is not None:
            kernels, data, indptr, indices, row_extra = self.matrix
            b = np.ascontiguousarray(b, dtype=float)
            x = np.asarray(x, dtype=float)
            if not x.flags.f_contiguous:  # one compiled variant: PARDISO's column-major fields
                x = np.asfortranarray(x)
            self._check(b, x)
            return kernels.rounded_residual(data, indptr, indices, row_extra, x, b, 53 - self.x_bits)
        x = np.asarray(x, dtype=float)  # float64: the shift is made in its exponent field
        if x.flags.f_contiguous and not x.flags.c_contiguous:
            largest = np.abs(x).max(axis=0, initial=0.0)  # contiguous columns: a fast reduction
        else:
            largest = _column_max_abs(x)
        shift = _rounding_shift_in_place(largest, _shift_bits(self.x_bits))
        # x1 made row-major whatever x's order: MKL's CSR product reads a row-major x in one
        # pass over the matrix, twice as fast as a column-major one (377 and 2,007 unknowns).
        x1 = np.add(x, shift, order="C")
        x1 -= shift
        p = self._product(0, 2 * self.n, x1)
        residual = np.subtract(b, p[: self.n])
        residual -= p[self.n :]
        return x1, residual


def _mkl_rows_product(
    functions, indptr: int, indices: int, values: int, start: int, stop: int, n_columns: int, x: np.ndarray
) -> np.ndarray | None:
    """Rows ``start:stop`` of the CSR matrix at addresses ``indptr``, ``indices`` (int32), ``values`` times ``x``.

    ``x``: float64, shape (n_columns, k), read row-major (copied so when it
    is not: MKL's product with a column-major ``x`` was twice as slow); the
    product has shape (stop - start, k), row-major.  None when MKL reports
    an error, for the caller to use scipy.  The handle made here only
    points at the arrays (``mkl_sparse_d_create_csr`` copies nothing) and is
    destroyed before returning; the caller keeps the arrays alive.
    """
    import ctypes

    create, multiply, destroy, general = functions
    x = np.ascontiguousarray(x, dtype=np.float64)
    k = x.shape[1]
    rows = stop - start
    out = np.empty((rows, k))
    handle = ctypes.c_void_p()
    if create(ctypes.byref(handle), 0, rows, n_columns, indptr + 4 * start, indptr + 4 * (start + 1), indices, values):
        return None
    try:  # y = 1.0 * A x + 0.0 y, A not transposed (10), row-major x and y (101)
        status = multiply(10, 1.0, handle, general, 101, x.ctypes.data, k, k, 0.0, out.ctypes.data, k)
    finally:
        destroy(handle)
    return None if status else out


class _ResidualPattern:
    """Per-pattern arrays of :func:`residual_function`, made once per sparsity pattern.

    ``filled``: the non-empty rows (None: all); ``starts``: their first entries;
    ``entry_row``: each entry's row; ``row_exponent``: ``53 - a1's bits`` per
    row in a float64's exponent field (:func:`_shift_bits`) and ``row_extra``
    the same as an int64 (None where an index does not fit int32, which the
    compiled loops take); ``indptr``, ``indices``: ``a``'s as int32 for the
    compiled loops; the stacked matrix ``[a1; a2]``'s structure and the
    addresses of its two index arrays (for MKL's product, made once).
    """

    def __init__(self, a: sp.csr_matrix):
        row_length = np.diff(a.indptr)
        filled = row_length > 0
        self.filled = None if filled.all() else filled
        self.starts = a.indptr[:-1][filled]
        self.entry_row = np.repeat(np.arange(a.shape[0]), row_length)
        a1_bits = 52 - _X_BITS - np.ceil(np.log2(np.maximum(row_length, 1))).astype(np.int64)
        self.row_exponent = _shift_bits(a1_bits)
        index = np.int32 if 2 * a.nnz < 2**31 else np.int64
        self.stacked_indices = np.concatenate([a.indices, a.indices]).astype(index)
        self.stacked_indptr = np.concatenate([a.indptr, a.indptr[1:] + a.nnz]).astype(index)
        self.addresses = (self.stacked_indptr.ctypes.data, self.stacked_indices.ctypes.data)
        small = index == np.int32
        self.indptr = a.indptr.astype(np.int32) if small else None
        self.indices = a.indices.astype(np.int32) if small else None
        self.row_extra = (53 - a1_bits).astype(np.int64) if small else None
        for x in (self.stacked_indices, self.stacked_indptr, self.indptr, self.indices, self.row_extra):
            if x is not None:
                x.flags.writeable = False


def _residual_pattern(a: sp.csr_matrix, reuse: dict | None) -> _ResidualPattern:
    """The :class:`_ResidualPattern` of ``a``'s sparsity pattern: the one kept in ``reuse`` if it matches, else new."""
    known = reuse.get("residual") if reuse is not None else None
    if known is not None and _same_structure(a, known[0], known[1]):
        return known[2]
    pattern = _ResidualPattern(a)
    if reuse is not None:
        reuse["residual"] = (*_structure_of(a), pattern)
    return pattern


def _canonical_csr(a: sp.spmatrix) -> sp.csr_matrix:
    """``a`` as a float64 CSR matrix with sorted, distinct column indices; ``a`` itself when it is one already."""
    if not (isinstance(a, sp.csr_matrix) and a.dtype == np.float64):
        a = sp.csr_matrix(a, dtype=float)
    if not a.has_canonical_format:  # duplicates summed on a copy, never in the caller's arrays
        a = a.copy()
        a.sum_duplicates()
    return a


def _structure_of(a: sp.csr_matrix) -> tuple:
    """What :func:`_same_structure` compares later: ``a``'s ``indptr`` and ``indices``.

    Read-only structure arrays (a model's assembly plan shares them between all
    its system matrices) are kept by reference, and a later matrix holding the
    very same arrays matches at once; others are copied.
    """
    return tuple(_whole(x) if not x.flags.writeable else x.copy() for x in (a.indptr, a.indices))


def _whole(x: np.ndarray) -> np.ndarray:
    """The array ``x`` views whole (scipy's CSR holds ``indices[:nnz]``), or ``x`` itself."""
    base = x.base
    if isinstance(base, np.ndarray) and base.shape == x.shape and base.strides == x.strides:
        return base
    return x


def _same_structure(a: sp.csr_matrix, indptr: np.ndarray, indices: np.ndarray) -> bool:
    """Whether ``a`` has the sparsity pattern ``(indptr, indices)``."""
    if _same_read_only_array(a.indptr, indptr) and _same_read_only_array(a.indices, indices):
        return True
    return np.array_equal(a.indptr, indptr) and np.array_equal(a.indices, indices)


def _same_read_only_array(x: np.ndarray, kept: np.ndarray) -> bool:
    """Whether ``x`` is the read-only ``kept`` or a whole view of it (scipy's CSR holds ``indices[:nnz]``)."""
    return not kept.flags.writeable and (x is kept or _whole(x) is kept)


def refined(a: sp.spmatrix, solve: Solve, steps: int, reuse: dict | None = None) -> Solve:
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
    reuse : dict, optional
        Kept between matrices of one sparsity pattern (:func:`residual_function`).

    Returns
    -------
    callable
        ``solve`` itself when ``steps <= 0``, else a :class:`RefinedSolve`.
    """
    if steps <= 0:
        return solve
    return RefinedSolve(solve, residual_function(a, reuse), steps)


class RefinedSolve:
    """A solve followed by refinement steps, with its parts kept for callers that need less.

    ``RefinedSolve(b)`` is the refined solution.  ``unrefined`` (the plain solve)
    and ``residual`` (``residual(b, x)``: ``b - a x`` to better than float64, for
    2D ``b`` and ``x`` of shape (n, k)) let a caller that needs only linear
    functionals of the solution correct them by the adjoint-weighted residual
    instead of a second solve (:meth:`femeit.forward.ForwardModel.simulate`), and
    refine later with :meth:`refine` if the whole solution is wanted.
    """

    def __init__(self, unrefined: Solve, residual: Residual, steps: int):
        self.unrefined = unrefined
        self.residual = residual
        self.steps = int(steps)

    def refine(self, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The refined solution from ``x = unrefined(b)`` (the same numbers as ``self(b)``)."""
        b = np.asarray(b, dtype=float)
        shape = x.shape
        # Row-major x (PARDISO returns a Fortran-ordered one): the residual's products read it
        # so, and each step's sum is then of arrays in one order.
        b2, x2 = b.reshape(len(b), -1), np.ascontiguousarray(x.reshape(len(x), -1))
        for _ in range(self.steps):
            x2 = x2 + np.asarray(self.unrefined(self.residual(b2, x2))).reshape(x2.shape)
        return x2.reshape(shape)

    def __call__(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        return self.refine(b, self.unrefined(b))


_PARDISO_TEMPLATE: list = []


def _mkl_solver():
    """pypardiso's solver object, made once per process: the MKL library handle and its ``pardiso`` function.

    pypardiso's constructor locates ``mkl_rt`` with ``ctypes.util.find_library``,
    which runs a subprocess: 0.4 s CPU, more than the whole factorisation of a
    2D model.  We make it once and call MKL's ``pardiso`` directly with our own
    handles and arrays: pypardiso's own ``factorize``/``solve`` copy the matrix,
    convert its indices to 1-based ``int32`` and compare it with the factored one
    on every call (0.3 ms per solve, 10 % of a 900-unknown 3D forward solve).
    """
    import pypardiso

    if not _PARDISO_TEMPLATE:
        _PARDISO_TEMPLATE.append(pypardiso.PyPardisoSolver(mtype=2))  # real symmetric positive definite
    return _PARDISO_TEMPLATE[0]


_MKL_PARDISO: list = []


def _mkl_pardiso():
    """MKL's ``pardiso`` entry point as a C function of 16 addresses (64-bit handle, 32-bit integers).

    A prototype of our own over the function's address, every argument a
    ``void *`` given as a Python int: ctypes converts nothing per call.  The
    callers make the addresses of the arrays that live long (the handle, its
    parameters, the pattern's structure) once: ``ndarray.ctypes.data`` costs
    1.6 microseconds, and the earlier call, which made every pointer and
    integer anew, took 15 microseconds longer per call on a 377-unknown system.
    The function object of the library pypardiso loaded keeps its own
    argument types.
    """
    if not _MKL_PARDISO:
        import ctypes

        address = ctypes.cast(_mkl_solver().libmkl.pardiso, ctypes.c_void_p).value
        _MKL_PARDISO.append(ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 16)(address))
    return _MKL_PARDISO[0]


_MKL_DGEMM: list = []


def transposed_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` for float64 ``a`` of shape (n, p) and ``b`` of shape (n, q); by MKL's ``cblas_dgemm`` where MKL is.

    For the callers of PARDISO: numpy's ``@`` runs on numpy's own BLAS
    (OpenBLAS in the wheels), whose worker threads keep spinning after a
    threaded call and then compete with MKL's for the cores.  On 2 cores one
    16 x 16 x 2007 product per forward solve made it 9 % slower in a loop of
    forward solves and 23 % slower interleaved with other MKL work, at default
    threads (measured on a 9,118-tetrahedron ball); MKL's product shares MKL's
    thread pool.  Below 2^18 multiply-adds OpenBLAS stays on one
    thread, and numpy's product is kept (3 times faster than MKL's for
    16 x 16 x 877 on the AMD EPYC benchmark machine).  Without MKL (no
    pypardiso) it is numpy's product.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise FemeitError(f"transposed_product needs (n, p) and (n, q) arrays, got {a.shape} and {b.shape}")
    n, p = a.shape
    q = b.shape[1]
    dgemm = _mkl_dgemm() if n * p * q >= 2**18 else None
    if dgemm is None:  # numpy's BLAS reads either memory order as it is
        return a.T @ b
    b = np.ascontiguousarray(b)
    if a.flags.f_contiguous and not a.flags.c_contiguous:  # a' is row-major as it is: no copy
        a_rows, transpose_a, lda = a.T, 111, n
    else:
        a_rows, transpose_a, lda = np.ascontiguousarray(a), 112, p
    out = np.zeros((p, q))
    if n and p and q:  # row-major (101), a' as it is (111) or a transposed (112), b as it is (111)
        dgemm(101, transpose_a, 111, p, q, n, 1.0, a_rows.ctypes.data, lda, b.ctypes.data, q, 0.0, out.ctypes.data, q)
    return out


def _mkl_dgemm():
    """MKL's ``cblas_dgemm`` with its C signature, or None where pypardiso (MKL) is not installed."""
    if not _MKL_DGEMM:
        function = None
        if "pardiso" in available_backends():
            import ctypes

            function = _mkl_solver().libmkl.cblas_dgemm
            integer, double, pointer = ctypes.c_int, ctypes.c_double, ctypes.c_void_p
            function.argtypes = [integer] * 6 + [double, pointer, integer, pointer, integer, double, pointer, integer]
            function.restype = None
        _MKL_DGEMM.append(function)
    return _MKL_DGEMM[0]


_MKL_SPARSE: list = []


def _mkl_sparse():
    """MKL's sparse BLAS (create_csr, mm, destroy, a general-matrix descriptor), or None without pypardiso."""
    if not _MKL_SPARSE:
        functions = None
        if "pardiso" in available_backends():
            import ctypes

            class Description(ctypes.Structure):  # MKL's struct matrix_descr
                _fields_ = [("type", ctypes.c_int), ("mode", ctypes.c_int), ("diag", ctypes.c_int)]

            library = _mkl_solver().libmkl
            pointer, integer = ctypes.c_void_p, ctypes.c_int
            create, multiply, destroy = (
                library.mkl_sparse_d_create_csr,
                library.mkl_sparse_d_mm,
                library.mkl_sparse_destroy,
            )
            create.argtypes = [ctypes.POINTER(pointer), integer, integer, integer, pointer, pointer, pointer, pointer]
            multiply.argtypes = [integer, ctypes.c_double, pointer, Description, integer, pointer, integer, integer]
            multiply.argtypes += [ctypes.c_double, pointer, integer]
            destroy.argtypes = [pointer]
            for function in (create, multiply, destroy):
                function.restype = integer
            functions = (create, multiply, destroy, Description(20, 0, 0))  # SPARSE_MATRIX_TYPE_GENERAL
        _MKL_SPARSE.append(functions)
    return _MKL_SPARSE[0]


def _mkl_call(pt, phase, n, data, ia, ja, perm, iparm, b, x) -> None:
    """One call of MKL's ``pardiso`` (real SPD, one matrix) with arrays, or a FemeitError naming MKL's error code.

    For the rare calls (a handle's release); the factorisations and solves go
    through :meth:`_PardisoHandle.call`, with the addresses made once.
    """
    nrhs = b.shape[1] if b.ndim == 2 else 1
    addresses = [array.ctypes.data for array in (pt, data, ia, ja, perm, iparm, b, x)]
    _PardisoScalars().call(phase, n, nrhs, *addresses)


class _PardisoScalars:
    """MKL's scalar arguments (maxfct, mnum, mtype, phase, n, nrhs, msglvl, error) in one int32 array.

    MKL reads them, and writes its error code, through pointers, whose
    addresses are made once.  One per handle: the calls on a handle never
    overlap (its lock), so neither do the uses of its scalars.
    """

    def __init__(self) -> None:
        # maxfct 1, mnum 1 (one matrix), mtype 2 (real symmetric positive definite), msglvl 0 (silent)
        self.values = np.array([1, 1, 2, 0, 0, 0, 0, 0], dtype=np.int32)
        base = self.values.ctypes.data
        self.addresses = tuple(base + 4 * k for k in range(8))

    def call(
        self, phase: int, n: int, nrhs: int, pt: int, data: int, ia: int, ja: int, perm: int, iparm: int, b: int, x: int
    ) -> None:
        """One call with these scalars; the other arguments are the addresses of MKL's arrays."""
        values = self.values
        values[3], values[4], values[5], values[7] = phase, n, nrhs, 0
        s = self.addresses
        _mkl_pardiso()(pt, s[0], s[1], s[2], s[3], s[4], data, ia, ja, perm, s[5], iparm, s[6], b, x, s[7])
        if values[7]:
            raise FemeitError(f"PARDISO failed (MKL error {values[7]}, phase {phase}); is the matrix SPD and grounded?")


def _mkl_release(pt) -> None:
    """Phase -1: all memory of one MKL handle (phase 0 leaked 20 MB per factorisation, measured)."""
    if pt.any():
        empty = np.zeros(1, dtype=np.int32) + 1
        _mkl_call(pt, -1, 0, np.zeros(1), empty, empty, empty, np.zeros(64, dtype=np.int32), np.zeros(1), np.zeros(1))


class _PardisoHandle:
    """One MKL handle (``pt``) with its parameters; its memory is released when the handle is collected."""

    def __init__(self) -> None:
        self.pt = np.zeros(64, dtype=np.int64)  # MKL's handle: 64 pointers
        self.iparm = _pardiso_parameters(_mkl_solver())
        self.user = None  # weak reference to the solve function that uses the current factor
        self.lock = threading.Lock()  # one MKL call at a time on this handle
        self.scalars = _PardisoScalars()
        self.perm_buffer: np.ndarray | None = None  # the sparse solve's marker, which MKL may overwrite
        self.perm_address = 0
        self.no_rhs: tuple | None = None  # (zeros, address): for phase 22, which reads no b or x
        self.addresses = (self.pt.ctypes.data, self.iparm.ctypes.data)
        weakref.finalize(self, _mkl_release, self.pt)

    def idle(self) -> bool:
        return self.user is None or self.user() is None

    def call(self, phase: int, n: int, nrhs: int, data: int, ia: int, ja: int, perm: int, b: int, x: int) -> None:
        """One call of MKL's ``pardiso`` on this handle with its ``iparm``; the arrays by their addresses.

        ``data``, ``ia``, ``ja``, ``perm``: the matrix's upper triangle
        (float64 values, 1-based int32 row starts and columns) and the int32
        ordering or marker, each of ``n`` or more entries; ``b`` and ``x``:
        float64 (n, nrhs), column-major.  The caller keeps every array alive.
        """
        pt, iparm = self.addresses
        self.scalars.call(phase, n, nrhs, pt, data, ia, ja, perm, iparm, b, x)

    def no_rhs_address(self, n: int) -> int:
        """The address of an (n, 1) float64 array of zeros kept by the handle, for calls that solve nothing."""
        if self.no_rhs is None or len(self.no_rhs[0]) != n:
            zeros = np.zeros((n, 1))
            self.no_rhs = (zeros, zeros.ctypes.data)
        return self.no_rhs[1]

    def marker_copy(self, marker: np.ndarray) -> int:
        """The address of this handle's copy of ``marker`` (for one sparse solve, under the handle's lock)."""
        buffer = self.perm_buffer
        if buffer is None or buffer.shape != marker.shape:
            buffer = self.perm_buffer = np.empty_like(marker)
            self.perm_address = buffer.ctypes.data
        np.copyto(buffer, marker)
        return self.perm_address


def _claimed() -> bool:
    """A handle's user while a factorisation on it is being made (not idle)."""
    return True


class _PardisoPattern:
    """What PARDISO keeps of one sparsity pattern (``reuse["pardiso"]``).

    The upper triangle's place in the full CSR data, its 1-based ``int32``
    structure, the fill-reducing ordering, and the handle that analysed the
    pattern (phase 11: ordering and symbolic factorisation): a new matrix of the
    pattern is then factored by phase 22 alone on that handle whenever no live
    solve function still uses the handle's previous factor (else on a new handle
    given the ordering).  Up to :data:`PARDISO_HANDLES_KEPT` analysed handles
    are kept, so threads sharing a model each refactor on their own (with one
    handle kept, a second thread's factorisations were analysed anew: two
    threads sharing an 877-unknown ball model took 4.0 ms wall, 6.0 ms CPU per
    forward solve, now 1.15 and 2.1; one thread 2.4).  An idle kept handle
    holds its last factor's memory until it is reused or the pattern is dropped.

    With ``rhs_rows`` (the only rows where the usual right-hand sides are
    non-zero: a forward model's current patterns enter at the electrodes) the
    analysis is made for MKL's sparse right-hand-side solve (``iparm[30] = 2``),
    which skips the forward substitution's work on the zero rows: half the
    cost of the 16 pattern solves of an 877-unknown ball (0.30 instead of
    0.60 ms).  MKL then chooses its own ordering (it refuses a given one in
    this mode), so a second handle repeats the analysis.
    """

    def __init__(self, a: sp.csr_matrix, rhs_rows: np.ndarray | None = None) -> None:
        n = a.shape[0]
        if rhs_rows is not None:
            rows = np.asarray(rhs_rows)
            if (
                rows.ndim != 1
                or not np.issubdtype(rows.dtype, np.integer)
                or (rows.size and not 0 <= rows.min() <= rows.max() < n)
            ):
                raise FemeitError(f"rhs_rows must be a 1-D array of row indices in [0, {n}), got {rhs_rows!r}")
        rows = np.repeat(np.arange(n), np.diff(a.indptr))
        upper = a.indices >= rows
        self.indptr, self.indices = _structure_of(a)
        self.upper = np.flatnonzero(upper)
        self.ia = (np.concatenate([[0], np.cumsum(np.bincount(rows[upper], minlength=n))]) + 1).astype(np.int32)
        self.ja = (a.indices[upper] + 1).astype(np.int32)
        self.perm = np.zeros(n, dtype=np.int32)
        self.ordered = False
        self.handles: list[_PardisoHandle] = []
        self.lock = threading.Lock()
        self.rhs_rows = None if rhs_rows is None else np.unique(np.asarray(rhs_rows, dtype=np.int64))
        # A read-only rows array (a model's) is kept by reference and matched by identity.
        self.rhs_rows_given = rhs_rows if rhs_rows is not None and not rhs_rows.flags.writeable else np.empty(0)
        self.marker = None
        self.checked = None  # the read-only right-hand side last found sparse (see sparse())
        if self.rhs_rows is not None:
            self.marker = np.zeros(n, dtype=np.int32)
            self.marker[self.rhs_rows] = 1
        self.addresses = (self.ia.ctypes.data, self.ja.ctypes.data, self.perm.ctypes.data)
        self._residual_pattern: _ResidualPattern | None = None

    def residual_pattern(self, a: sp.csr_matrix) -> _ResidualPattern:
        """The refinement residual's :class:`_ResidualPattern` of this pattern (``a``: a matrix of it), made once."""
        if self._residual_pattern is None:
            self._residual_pattern = _ResidualPattern(a)
        return self._residual_pattern

    def matches(self, a: sp.csr_matrix, rhs_rows: np.ndarray | None) -> bool:
        if (rhs_rows is None) != (self.rhs_rows is None):
            return False
        if rhs_rows is not None and not (
            _same_read_only_array(rhs_rows, self.rhs_rows_given) or np.array_equal(np.unique(rhs_rows), self.rhs_rows)
        ):
            return False
        return _same_structure(a, self.indptr, self.indices)

    def analyse(self, handle: _PardisoHandle, n: int, upper: np.ndarray) -> None:
        """Phase 12 (analysis and factorisation) of ``upper`` on a new ``handle``."""
        no_rhs, no_x = np.zeros((n, 1)), np.zeros((n, 1))
        if self.marker is not None:
            handle.iparm[30] = 2  # sparse right-hand sides, whose non-zero rows perm marks
            handle.iparm[4] = 0
            perm = self.marker.copy()  # MKL writes its ordering into it
        else:
            handle.iparm[4] = 1 if self.ordered else 2  # 1: use self.perm; 2: return the ordering in it
            perm = self.perm if not self.ordered else self.perm.copy()
        ia, ja, _ = self.addresses
        handle.call(12, n, 1, upper.ctypes.data, ia, ja, perm.ctypes.data, no_rhs.ctypes.data, no_x.ctypes.data)
        self.ordered = self.marker is None

    def sparse(self, rhs: np.ndarray) -> bool:
        """Whether all non-zeros of ``rhs`` (shape (n, k)) lie in the marked rows, where MKL's sparse solve applies.

        A read-only array that owns its memory (a model's current patterns,
        solved for every conductivity) is checked once and then known by
        identity: no view can change it.
        """
        if self.marker is None:
            return False
        if rhs is self.checked:
            return True
        sparse = np.count_nonzero(rhs) == np.count_nonzero(rhs[self.rhs_rows])
        if sparse and not rhs.flags.writeable and rhs.base is None:
            self.checked = rhs
        return sparse


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


def _pardiso(
    a: sp.csr_matrix, reuse: dict | None = None, rhs_rows: np.ndarray | None = None, refine: bool = True
) -> Solve:
    a = _canonical_csr(a)  # sorted, distinct column indices (PARDISO needs them sorted)
    n = a.shape[0]
    pattern = reuse.get("pardiso") if reuse is not None else None
    if not isinstance(pattern, _PardisoPattern) or not pattern.matches(a, rhs_rows):
        if np.any(np.diff(a.indptr) == 0):  # a property of the pattern: checked once per pattern
            raise FemeitError("the system matrix has an empty row: it is singular")
        pattern = _PardisoPattern(a, rhs_rows)
        if reuse is not None:
            reuse["pardiso"] = pattern
    upper = np.ascontiguousarray(a.data[pattern.upper])
    # The refinement's residual (the split of the matrix, or the copy of its values that the
    # compiled loops split), made while its values are still in cache (after the factorisation
    # the split took twice as long on an 877-unknown system).
    steps = PARDISO_REFINEMENT_STEPS if refine else 0
    residual = _residual_of(a, pattern.residual_pattern(a)) if steps > 0 else None
    # The fill-reducing ordering (METIS nested dissection) and the symbolic factorisation
    # depend only on the sparsity pattern, the same for every conductivity of a model: the
    # first factorisation finds them (phase 12, iparm[4] = 2 returns the ordering), later ones
    # on the same handle only factor (phase 22: 0.68 instead of 1.55 ms CPU on a
    # 877-unknown 3D system, a third of the KGPSR cylinder's factorisation).
    # Threads sharing a model (Dask's threaded workers) claim the idle handle under the
    # pattern's lock, so no two factor on one handle; a new handle's analysis writes the
    # pattern's ordering, so it is made under the lock too.
    with pattern.lock:
        handle = None
        for kept in pattern.handles:
            if kept.idle():
                handle = kept
                break
        refactor = handle is not None
        if refactor:
            handle.user = _claimed
        else:
            handle = _PardisoHandle()
            pattern.analyse(handle, n, upper)
            if reuse is not None and len(pattern.handles) < PARDISO_HANDLES_KEPT:
                handle.user = _claimed  # not idle before its factor's solve function exists
                pattern.handles.append(handle)
    ia, ja, perm = pattern.addresses
    data = upper.ctypes.data  # MKL reads the values by address: solve.values (below) keeps them alive
    if refactor:
        no_rhs = handle.no_rhs_address(n)
        try:
            handle.call(22, n, 1, data, ia, ja, perm, no_rhs, no_rhs)
        except BaseException:
            handle.user = None
            raise

    def solve(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        if b.ndim not in (1, 2) or len(b) != n:  # a (n/2, 2k) array would reshape silently into (n, k)
            raise FemeitError(f"right-hand sides must have shape ({n},) or ({n}, k), got {b.shape}")
        rhs = b if b.ndim == 2 and b.flags.f_contiguous else np.asfortranarray(b.reshape(n, -1))
        x = np.zeros(rhs.shape, order="F")  # rhs is Fortran-ordered: MKL writes x so
        # MKL's sparse solve silently gives wrong numbers for a right-hand side with
        # non-zeros outside the marked rows (measured): each call is checked.
        sparse = pattern.sparse(rhs)
        with handle.lock:
            if pattern.marker is not None:
                handle.iparm[30] = 2 if sparse else 0
            marked = handle.marker_copy(pattern.marker) if sparse else perm
            handle.call(33, n, rhs.shape[1], data, ia, ja, marked, rhs.ctypes.data, x.ctypes.data)
        if rhs is b:  # b was 2-D and Fortran-ordered, as MKL writes x: returned as it is, not copied
            return x
        return np.ascontiguousarray(x).reshape(b.shape)

    solve.values = upper
    # The handle's factor is this function's until the function is collected; a handle
    # nobody holds is released (MKL keeps a factor until told, 53 MB on a 27k-unknown system).
    handle.user = weakref.ref(solve)
    # Why refine: a solve is accurate only to ~cond(A) eps (3e-13 relative on
    # a 2D CEM tank, whose contact-impedance rows make cond ~1e6), and MKL's
    # error, unlike SuperLU's, is not smooth in the matrix: conductivities one
    # rounding apart gave voltages 1e-13 apart (SuperLU: 4e-16), which an
    # inverse method started at the truth amplifies.  One step with an
    # extended-precision residual brings the solution to the float64 rounding
    # of the exact one (PARDISO and SuperLU-refined then agree to ~3e-16); a
    # float64 residual gave no gain (measured).  ForwardModel.simulate gives its
    # readings the same accuracy without the second solve (RefinedSolve's parts:
    # the unrefined fields corrected by their adjoint-weighted residual).
    return solve if residual is None else RefinedSolve(solve, residual, steps)


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


_FOUND: list = []


def available_backends() -> list[str]:
    """The backends that can be imported here, in the order ``auto`` tries them.

    Found once per process: a failed import searches the file system again on
    every call (50 microseconds, a hundredth of a small 3D forward solve).
    """
    if _FOUND:
        return list(_FOUND[0])
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
    _FOUND.append(found)
    return list(found)


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
    rhs_rows: np.ndarray | None = None,
    refine: bool = True,
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
    rhs_rows : array of int, optional
        The rows where the usual right-hand sides are non-zero (a forward
        model's electrode rows).  PARDISO then solves such right-hand sides
        by MKL's sparse solve (``iparm[30] = 2``), about twice as fast on a
        small 3D system; any other right-hand side is solved in full.  The
        other backends ignore it.
    refine : bool
        PARDISO only: follow each solve by ``PARDISO_REFINEMENT_STEPS`` steps
        of refinement with an extended-precision residual (:func:`refined`;
        the solve is then a :class:`RefinedSolve`).  False: MKL's solve
        alone.  The other backends do not refine and ignore it.
    """
    if backend not in BACKENDS:
        raise FemeitError(f"unknown linear solver {backend!r}; choose one of {BACKENDS}")
    if not isinstance(refine, (bool, np.bool_)):  # "False" or "no" would refine silently
        raise FemeitError(f"refine must be True or False, got {refine!r}")
    name = choose_backend(a.shape[0], dim, order) if backend == "auto" else backend
    try:
        if name == "cholmod":
            return _cholmod(sp.csc_matrix(a), reuse)
        if name == "pardiso":
            return _pardiso(a, reuse, rhs_rows, refine)
        if name == "amg":
            return _amg(sp.csr_matrix(a))
        return _splu(sp.csc_matrix(a))
    except (ImportError, OSError):
        raise FemeitError(f"linear solver {name!r} is not installed here; available: {available_backends()}") from None
    except RuntimeError as exc:  # SuperLU reports a singular matrix this way
        raise FemeitError(f"the system matrix could not be factored ({exc}); is the model grounded?") from None
