"""Measurement patterns' adjoint fields as combinations of the current patterns' fields and a few extra ones.

A reading ``m' U`` of the electrode potentials is corrected by its adjoint
field ``w = A^-1 E m'`` (``E``: the electrode rows of the grounded system, ``m'``
the pattern without the ground electrode's entry).  The field is linear in the
pattern, so when ``m' = sum_p c_p I'_p + sum_j d_j n_j`` (current patterns
``I'_p``, extra patterns ``n_j``) then ``w = sum_p c_p y_p + sum_j d_j v_j`` with
``y_p`` the current patterns' fields, which the forward solve makes anyway, and
``v_j = A^-1 E n_j``: one extra solve per extra pattern, none when every
measurement pattern lies in the span of the current patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Singular values below this fraction of the largest are taken as zero: the patterns are
# small integers or currents of a few decimal digits, far from that limit.
_RANK_TOLERANCE = 1e-9


@dataclass(frozen=True)
class AdjointCombination:
    """``measurements' = [currents; extra]' @ coefficients``, in the grounded electrodes.

    Attributes
    ----------
    extra : ndarray, shape (d, L - 1)
        Extra patterns (orthonormal), each solved once per conductivity; d may be 0.
    coefficients : ndarray, shape (P + d, Q)
        Column q gives measurement pattern q from the P current patterns, then the d extra ones.
    """

    extra: np.ndarray
    coefficients: np.ndarray


def adjoint_combination(currents: np.ndarray, measurements: np.ndarray, max_extra: int) -> AdjointCombination | None:
    """The measurement patterns as combinations of the current patterns and at most ``max_extra`` extra ones.

    Parameters
    ----------
    currents : ndarray, shape (P, L - 1)
        Current patterns, A, without the ground electrode's column.
    measurements : ndarray, shape (Q, L - 1)
        Measurement patterns, without the ground electrode's column (its potential is 0).
    max_extra : int
        The most extra patterns worth solving for; None is returned when more are needed.

    Returns
    -------
    AdjointCombination or None
        The extra patterns span what the measurement patterns need beyond the
        current patterns' span (from two SVDs); the coefficients are a least-squares
        solution, checked to reproduce every measurement pattern to 1e-10 of its norm.
    """
    currents = np.asarray(currents, dtype=float)
    measurements = np.asarray(measurements, dtype=float)
    size = currents.shape[1]
    if measurements.shape[1] != size or not np.all(np.isfinite(currents)) or not np.all(np.isfinite(measurements)):
        return None
    basis = _column_space(currents.T)
    beyond = measurements.T - basis @ (basis.T @ measurements.T)
    extra = _column_space(beyond, reference=float(np.linalg.norm(measurements, 2)) if measurements.size else 0.0).T
    if len(extra) > max_extra:
        return None
    patterns = np.vstack([currents, extra]) if len(extra) else currents
    coefficients = np.linalg.lstsq(patterns.T, measurements.T, rcond=None)[0]
    error = np.abs(patterns.T @ coefficients - measurements.T).max(axis=0, initial=0.0)
    if np.any(error > 1e-10 * np.maximum(np.abs(measurements).max(axis=1, initial=0.0), 1e-300)):
        return None
    return AdjointCombination(extra=np.ascontiguousarray(extra), coefficients=coefficients)


def _column_space(a: np.ndarray, reference: float | None = None) -> np.ndarray:
    """An orthonormal basis of ``a``'s columns, shape (rows, rank): singular values above the tolerance.

    ``reference``: what the singular values are compared with (default: the largest).
    """
    if not a.size:
        return np.zeros((a.shape[0], 0))
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    top = s[0] if reference is None else reference
    return u[:, s > _RANK_TOLERANCE * top] if top > 0 else np.zeros((a.shape[0], 0))
