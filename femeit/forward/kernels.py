"""Compiled loops (numba) of the forward solve's hot path, where numba is installed.

* :func:`rounded_residual`: the extended-precision residual that corrects the
  readings.  :class:`femeit.forward.linsolve.Residual` computes ``b - a x1`` to
  far better than float64 from the split ``a = a1 + a2`` and the rounded
  fields ``x1`` (see :func:`femeit.forward.linsolve.residual_function`).  With
  numpy and sparse products that takes a dozen passes over the matrix and the
  fields; the loop here makes the split and both products in one pass, and
  gives the same numbers bit for bit: the products of ``a1`` and ``x1`` and
  their partial sums are exact, and the others are summed in row order, as
  scipy's and MKL's sparse products sum them.  Per new conductivity with 16
  fields (``benchmarks/residual_kernels.py``, interleaved, default threads and
  one thread) it costs 0.50-0.55 of numpy's on a 377-unknown ball, 0.67 on
  2,007 unknowns and 0.65-0.67 on a 38k-unknown P2 system.  The whole residual
  of unrounded fields (the refinement of the fields, three products) stays
  with numpy: compiled in the same way it was faster only on small systems,
  and up to 2.1 times slower on large ones, where MKL's product runs on every
  core and the loop on one.
* :func:`pair_readings`: a protocol's readings from the fields' electrode
  potentials and the adjoint correction, in one pass.

:mod:`femeit.forward.linsolve` imports this module only where numba is
installed (a dependency on the platforms where PARDISO, the backend that
refines, has wheels), and numpy's operations run otherwise.  The functions are
compiled on first use (about a second each) and cached on disk by numba.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True, "boundscheck": False}


@numba.njit(**_JIT)
def _rounding_shift(largest: float, extra: int) -> float:
    """``2^(e + extra)`` for ``2^e`` the least power of two ``>= largest``; NaN for an infinite or NaN ``largest``.

    ``(v + s) - s`` then rounds every ``|v| <= largest`` to a multiple of
    ``2^(e + extra - 53)`` (Rump, Ogita & Oishi's ExtractScalar; the same
    shift as ``linsolve._rounding_shift``).  A NaN shift makes the values it
    rounds NaN, as numpy's reductions propagate a NaN.  Outside the normal
    range (``largest`` subnormal, or above about ``2^(1023 - extra)``, where
    the shift overflows to inf and the values become NaN) the split is not
    exact, and differs from numpy's bit trick, which is not exact there
    either; the systems of a forward model are far from both ends.
    """
    if not largest < math.inf:
        return math.nan
    mantissa, exponent = math.frexp(largest)
    if mantissa == 0.5:  # largest is a power of two itself
        exponent -= 1
    return math.ldexp(1.0, exponent + extra)


@numba.njit(**_JIT)
def _column_shifts(x: np.ndarray, extra: int) -> np.ndarray:
    """The rounding shift of each column of ``x`` (n, k) from its largest magnitude (NaN if it holds a NaN)."""
    n, k = x.shape
    shifts = np.empty(k)
    for j in range(k):
        largest = 0.0
        for i in range(n):
            v = abs(x[i, j])
            if v > largest or v != v:
                largest = v
                if v != v:
                    break
        shifts[j] = _rounding_shift(largest, extra)
    return shifts


@numba.njit(**_JIT)
def _rounded_columns(x: np.ndarray, extra: int) -> np.ndarray:
    """``x1``: each column of ``x`` (m, k) rounded by its shift (:func:`_column_shifts`), row-major (m, k)."""
    m, k = x.shape
    column = _column_shifts(x, extra)
    x1 = np.empty((m, k))
    for i in range(m):
        for j in range(k):
            x1[i, j] = (x[i, j] + column[j]) - column[j]
    return x1


@numba.njit(**_JIT)
def _row_shift(data: np.ndarray, start: int, stop: int, extra: int) -> float:
    """The rounding shift of one matrix row's entries ``data[start:stop]`` (a1's quantum times 2^53)."""
    largest = 0.0
    for p in range(start, stop):
        v = abs(data[p])
        if v > largest or v != v:
            largest = v
            if v != v:
                break
    return _rounding_shift(largest, extra)


@numba.njit(**_JIT)
def rounded_residual(
    data: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    row_extra: np.ndarray,
    x: np.ndarray,
    b: np.ndarray,
    x_extra: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(x1, b - a x1)``: ``x`` rounded per column, and its residual to far better than float64.

    Parameters
    ----------
    data, indptr, indices : ndarray
        ``a`` in CSR form, shape (n, m), sorted or not.
    row_extra : ndarray of int64, shape (n,)
        ``53 - bits`` kept in ``a1`` per row.
    x : ndarray, shape (m, k)
    b : ndarray, shape (n, k)
    x_extra : int
        ``53 - bits`` kept in ``x1`` per column.

    Returns
    -------
    x1 : ndarray, shape (m, k), row-major
    residual : ndarray, shape (n, k), row-major
        ``(b - a1 @ x1) - a2 @ x1``, ``a1 @ x1`` exact.
    """
    k = x.shape[1]
    n = len(indptr) - 1
    x1 = _rounded_columns(x, x_extra)
    residual = np.empty((n, k))
    exact = np.empty(k)  # a1 @ x1 on the row: every product and partial sum exact
    rest = np.empty(k)  # a2 @ x1, summed in row order
    for i in range(n):
        start, stop = indptr[i], indptr[i + 1]
        shift = _row_shift(data, start, stop, row_extra[i])
        exact[:] = 0.0
        rest[:] = 0.0
        for p in range(start, stop):
            high = (shift + data[p]) - shift
            low = data[p] - high
            c = indices[p]
            for j in range(k):
                exact[j] += high * x1[c, j]
                rest[j] += low * x1[c, j]
        for j in range(k):
            residual[i, j] = (b[i, j] - exact[j]) - rest[j]
    return x1, residual


@numba.njit(**_JIT)
def pair_readings(
    x1: np.ndarray,
    index: np.ndarray,
    weights: np.ndarray,
    gram: np.ndarray,
    correction_index: np.ndarray,
    correction_scale: np.ndarray,
) -> np.ndarray:
    """``readings[r] = sum_l weights[r, l] x1.flat[index[r, l]] + correction_scale[r] gram.flat[correction_index[r]]``.

    Parameters
    ----------
    x1 : ndarray, shape (n, k), row-major
        Fields (grounded-system rows) of k current patterns.
    index, weights : ndarray, shape (n_rows, m)
        Each reading's terms: flat indices into ``x1`` and their weights
        (the non-zero weights of the measurement patterns, padded with zero
        weights); summed in column order.
    gram : ndarray, shape (k, k), row-major
        The fields' products with the residuals (the adjoint correction).
    correction_index : ndarray of int, shape (n_rows,)
    correction_scale : ndarray, shape (n_rows,)

    Returns
    -------
    ndarray, shape (n_rows,)
    """
    flat = x1.reshape(x1.size)
    products = gram.reshape(gram.size)
    n_rows, m = index.shape
    out = np.empty(n_rows)
    for r in range(n_rows):
        total = 0.0
        for term in range(m):
            total += weights[r, term] * flat[index[r, term]]
        out[r] = total + correction_scale[r] * products[correction_index[r]]
    return out
