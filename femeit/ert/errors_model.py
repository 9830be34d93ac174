"""Reciprocal-error analysis and a linear error model for ERT readings.

By reciprocity, swapping the current and potential dipoles leaves the transfer
resistance unchanged: R(A, B, M, N) = R(M, N, A, B) on any linear, isotropic
ground.  The difference between a reading and its reciprocal measures the
noise in the field (contacts, polarisation, instrument), and its growth with
|R| is modelled, following LaBrecque, Miletto, Daily, Ramirez & Owen (1996),
"The effects of noise on Occam's inversion of resistivity tomography data",
Geophysics 61(2), 538-548 (their eq. 14), as::

    s(R) = a + b |R|        (standard deviation of one reading, ohm)

We estimate s from the reciprocal differences d = R_normal - R_reciprocal:
if each reading carries independent noise of standard deviation s, d has
standard deviation sqrt(2) s.  The pairs are sorted by |R| and split into bins
of equal count (as Slater, Binley, Daily & Johnson 2000, J. Appl. Geophys. 44,
85-102, do); in each bin s is estimated as rms(d) / sqrt(2), and (a, b) are
the non-negative least-squares fit of those bin estimates against the bins'
mean |R|.  The choice of the RMS (rather than the mean |d| of the papers,
which is smaller by sqrt(2/pi) for Gaussian noise) makes a + b|R| a standard
deviation, which is what a data weighting needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from femeit.errors import FemeitError

__all__ = ["ReciprocalAnalysis", "error_model", "fit_error_model", "reciprocal_analysis", "reciprocal_pairs"]


def reciprocal_pairs(abmn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair each reading with its reciprocal (current and potential dipoles swapped).

    Row j is the reciprocal of row i when j's (A, B, M, N) is i's (M, N, A, B)
    (sign +1), or the same with one dipole's poles swapped, (N, M, A, B) or
    (M, N, B, A) (sign -1: R_j = -R_i), or both, (N, M, B, A) (sign +1).  Each
    row belongs to at most one pair; the earlier row is the "normal" one.

    Parameters
    ----------
    abmn : ndarray of int, shape (n_rows, 4)

    Returns
    -------
    pairs : ndarray of int, shape (n_pairs, 2)
        (normal row, reciprocal row), normal < reciprocal.
    signs : ndarray, shape (n_pairs,)
        +1 or -1: R_reciprocal * sign estimates R_normal.
    """
    table = np.asarray(abmn)
    if table.ndim != 2 or table.shape[1] != 4:
        raise FemeitError(f"an ABMN table must have shape (n_rows, 4), got {table.shape}")
    first: dict[tuple, int] = {}
    for j, row in enumerate(map(tuple, table.astype(np.int64).tolist())):
        first.setdefault(row, j)
    used = np.zeros(len(table), dtype=bool)
    pairs, signs = [], []
    for i, (a, b, m, n) in enumerate(table.astype(np.int64).tolist()):
        if used[i]:
            continue
        for key, sign in (((m, n, a, b), 1.0), ((n, m, b, a), 1.0), ((n, m, a, b), -1.0), ((m, n, b, a), -1.0)):
            j = first.get(key)
            if j is not None and j > i and not used[j]:
                used[i] = used[j] = True
                pairs.append((i, j))
                signs.append(sign)
                break
    return np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(signs, dtype=float)


@dataclass(frozen=True)
class ReciprocalAnalysis:
    """Normal and reciprocal readings side by side.

    Attributes
    ----------
    pairs : ndarray of int, shape (n_pairs, 2)
        (normal row, reciprocal row).
    normal, reciprocal : ndarray, shape (n_pairs,)
        The two resistances, ohm; ``reciprocal`` carries the pair's sign, so it estimates ``normal``.
    mean : ndarray, shape (n_pairs,)
        (normal + reciprocal) / 2, ohm.
    difference : ndarray, shape (n_pairs,)
        normal - reciprocal, ohm.
    relative_error : ndarray, shape (n_pairs,)
        |difference| / |mean| (the relative reciprocal error).
    """

    pairs: np.ndarray
    normal: np.ndarray
    reciprocal: np.ndarray
    mean: np.ndarray
    difference: np.ndarray
    relative_error: np.ndarray

    def fit(self, n_bins: int | None = None) -> tuple[float, float]:
        """Fit the error model a + b |R| to these pairs (see :func:`fit_error_model`)."""
        return fit_error_model(self.mean, self.difference, n_bins)


def reciprocal_analysis(abmn: np.ndarray, resistances: np.ndarray) -> ReciprocalAnalysis:
    """Pair normal and reciprocal readings and compute their reciprocal errors.

    Parameters
    ----------
    abmn : ndarray of int, shape (n_rows, 4)
    resistances : ndarray, shape (n_rows,)
        Transfer resistances, ohm.
    """
    r = np.asarray(resistances, dtype=float)
    table = np.asarray(abmn)
    if r.shape != (len(table),):
        raise FemeitError(f"{len(table)} rows but resistances of shape {r.shape}")
    pairs, signs = reciprocal_pairs(table)
    if len(pairs) == 0:
        raise FemeitError("no reading has its reciprocal in this data set")
    normal, recip = r[pairs[:, 0]], signs * r[pairs[:, 1]]
    mean = 0.5 * (normal + recip)
    diff = normal - recip
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(diff) / np.abs(mean)
    return ReciprocalAnalysis(pairs, normal, recip, mean, diff, rel)


def fit_error_model(resistance: np.ndarray, difference: np.ndarray, n_bins: int | None = None) -> tuple[float, float]:
    """Fit s(R) = a + b |R| to reciprocal differences (module docstring).

    Parameters
    ----------
    resistance : ndarray, shape (n_pairs,)
        Mean resistance of each pair, ohm.
    difference : ndarray, shape (n_pairs,)
        Normal minus reciprocal, ohm.
    n_bins : int, optional
        Number of bins of equal count (default: about 20 pairs a bin, at least 2 bins).

    Returns
    -------
    a : float
        Absolute error, ohm (>= 0).
    b : float
        Relative error (>= 0), e.g. 0.02 for 2 %.
    """
    r = np.abs(np.asarray(resistance, dtype=float))
    d = np.asarray(difference, dtype=float)
    if r.shape != d.shape or r.ndim != 1:
        raise FemeitError(f"resistance and difference must be 1D of one length, got {r.shape} and {d.shape}")
    ok = np.isfinite(r) & np.isfinite(d)
    r, d = r[ok], d[ok]
    if n_bins is None:
        n_bins = max(2, len(r) // 20)
    if len(r) < 2 * n_bins or n_bins < 2:
        raise FemeitError(f"fitting a + b|R| needs at least 2 bins of 2 pairs; got {len(r)} pairs for {n_bins} bins")
    order = np.argsort(r)
    bins = np.array_split(order, n_bins)
    centre = np.array([r[i].mean() for i in bins])
    spread = np.array([np.sqrt(np.mean(d[i] ** 2) / 2) for i in bins])
    (a, b), _ = nnls(np.column_stack([np.ones(n_bins), centre]), spread)
    return float(a), float(b)


def error_model(resistances: np.ndarray, a: float, b: float, *, relative: bool = False) -> np.ndarray:
    """The error model a + b |R|, ohm, or divided by |R| with ``relative=True``.

    Parameters
    ----------
    resistances : ndarray, shape (n_rows,)
    a : float
        Absolute part, ohm (>= 0).
    b : float
        Relative part (>= 0).
    """
    if not (a >= 0 and b >= 0) or (a == 0 and b == 0):
        raise FemeitError(f"the error model needs a >= 0 and b >= 0, not both zero; got a={a!r}, b={b!r}")
    r = np.abs(np.asarray(resistances, dtype=float))
    err = a + b * r
    if relative:
        if np.any(r == 0):
            raise FemeitError("a relative error is undefined for a zero resistance")
        return err / r
    return err
