"""Geometric factors and apparent resistivity.

A four-electrode reading R = (U_M - U_N) / I over a homogeneous ground of
resistivity rho equals rho / K; the *apparent resistivity* of any reading is
``rho_a = K R``, the resistivity of the homogeneous ground that would give the
same R.  On flat ground with the electrodes on the surface (Telford, Geldart &
Sheriff, *Applied Geophysics*, 2nd ed., Cambridge 1990, chapter 8)::

    K = 2 pi / (1/AM - 1/AN - 1/BM + 1/BN)

with AM the distance from A to M, and so on.  An electrode at infinity (the
remote electrode of the pole arrays, a non-finite position; see
:mod:`femeit.ert.arrays`) contributes 1/inf = 0.  With ``surface_z`` given,
buried electrodes are allowed and each 1/r becomes (1/r + 1/r') / 2 with r'
the distance to the mirror image in the surface z = surface_z (the image that
makes the surface insulating), which reduces to the formula above for surface
electrodes.

With topography or a bounded body the factor is computed numerically:
:func:`numeric_geometric_factor` takes the transfer resistances a forward
model gives for a homogeneous resistivity (e.g.
:meth:`femeit.ert.forward25d.Forward25D.transfer_resistances` with sigma = 1).
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError
from femeit.protocol import Protocol

__all__ = ["apparent_resistivity", "geometric_factor", "numeric_geometric_factor"]


def _abmn(protocol_or_abmn) -> np.ndarray:
    if isinstance(protocol_or_abmn, Protocol):
        if protocol_or_abmn.abmn is None:
            raise FemeitError("geometric factors need a protocol of (A, B, M, N) rows")
        return protocol_or_abmn.abmn
    table = np.asarray(protocol_or_abmn)
    if table.ndim != 2 or table.shape[1] != 4 or not np.all(np.mod(table, 1) == 0):
        raise FemeitError(f"an ABMN table must be whole numbers of shape (n_rows, 4), got shape {table.shape}")
    return table.astype(np.int64)


def geometric_factor(protocol_or_abmn, positions: np.ndarray, *, surface_z: float | None = None) -> np.ndarray:
    """Analytic geometric factors of (A, B, M, N) rows on a flat half-space, m.

    Parameters
    ----------
    protocol_or_abmn : Protocol or array_like of int, shape (n_rows, 4)
        Rows, 0-based electrode indices.
    positions : ndarray, shape (L, 2) or (L, 3)
        Electrode positions, m: (x, z) for a profile or (x, y, z).  A row of
        non-finite values is an electrode at infinity.
    surface_z : float, optional
        Height of the flat surface.  None (default): every electrode is taken
        to be on the surface and distances are measured between the given
        positions (with topography this is the usual approximation; use
        :func:`numeric_geometric_factor` for the exact one).  A number: the
        image method for electrodes at or below z = surface_z.

    Returns
    -------
    ndarray, shape (n_rows,)
        K, m; negative where the reading has the opposite sign to rho.

    Raises
    ------
    FemeitError
        An index outside the positions, two electrodes of a row at the same
        place, or a row whose K is infinite (a reading that is zero on any
        homogeneous ground, e.g. M and N symmetric about A and B).
    """
    table = _abmn(protocol_or_abmn)
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise FemeitError(f"positions must have shape (L, 2) or (L, 3), got {pos.shape}")
    if pos.shape[1] == 2:
        pos = np.column_stack([pos[:, 0], np.zeros(len(pos)), pos[:, 1]])
    if table.size and (table.min() < 0 or table.max() >= len(pos)):
        raise FemeitError(f"ABMN rows name electrodes outside 0..{len(pos) - 1} (the positions given)")
    remote = ~np.all(np.isfinite(pos), axis=1)
    if surface_z is not None and np.any(pos[~remote, 2] > surface_z + 1e-9 * (1 + abs(surface_z))):
        raise FemeitError(f"electrodes lie above the surface z = {surface_z}")

    image = pos.copy()
    if surface_z is not None:
        image[:, 2] = 2 * surface_z - image[:, 2]

    def inv_dist(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        # A remote electrode makes the distance infinite (or inf - inf = NaN): 1/r = 0.
        far = remote[i] | remote[j]
        with np.errstate(invalid="ignore"):
            r = np.linalg.norm(pos[i] - pos[j], axis=1)
            r_img = np.linalg.norm(pos[i] - image[j], axis=1)
        same = (r == 0) & ~far
        if np.any(same):
            raise FemeitError(
                f"row {int(np.flatnonzero(same)[0])}: a current and a potential electrode are at the same place "
                "(K undefined)"
            )
        with np.errstate(divide="ignore"):
            out = np.where(far, 0.0, 1.0 / np.where(far, 1.0, r))
            if surface_z is not None:
                out = 0.5 * (out + np.where(far, 0.0, 1.0 / np.where(far, 1.0, r_img)))
        return out

    a, b, m, n = table.T
    s = inv_dist(a, m) - inv_dist(a, n) - inv_dist(b, m) + inv_dist(b, n)
    scale = inv_dist(a, m) + inv_dist(a, n) + inv_dist(b, m) + inv_dist(b, n)
    bad = np.abs(s) <= 1e-12 * scale
    if np.any(bad):
        raise FemeitError(
            f"rows {np.flatnonzero(bad)[:10].tolist()} read zero on homogeneous ground: their geometric factor is "
            "infinite (M and N at equal potential)"
        )
    return 2 * np.pi / s


def numeric_geometric_factor(homogeneous_resistances: np.ndarray, resistivity: float = 1.0) -> np.ndarray:
    """Geometric factors from a forward model of homogeneous ground: K = rho / R_hom.

    This is exact for the model's geometry (topography, finite bodies, buried
    electrodes) and cancels much of the model's discretisation error when
    the same model computes the data (Rücker, Günther & Spitzer 2006,
    Geophys. J. Int. 166, 495-505).

    Parameters
    ----------
    homogeneous_resistances : ndarray, shape (n_rows,)
        Transfer resistances (V / A, ohm) the model gives for homogeneous
        ground of resistivity ``resistivity``.
    resistivity : float
        That resistivity, ohm m.

    Returns
    -------
    ndarray, shape (n_rows,)
        K, m.
    """
    r = np.asarray(homogeneous_resistances, dtype=float)
    if not (np.isfinite(resistivity) and resistivity > 0):
        raise FemeitError(f"resistivity must be a positive number of ohm m, got {resistivity!r}")
    if not np.all(np.isfinite(r)):
        raise FemeitError("the homogeneous resistances contain NaN or infinite values")
    zero = r == 0
    if np.any(zero):
        raise FemeitError(
            f"rows {np.flatnonzero(zero)[:10].tolist()} read exactly zero: the geometric factor is infinite"
        )
    return resistivity / r


def apparent_resistivity(resistances: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Apparent resistivity rho_a = K R, ohm m.

    Parameters
    ----------
    resistances : ndarray, shape (n_rows,) or (n_frames, n_rows)
        Transfer resistances U / I, ohm.
    k : ndarray, shape (n_rows,)
        Geometric factors, m.
    """
    r = np.asarray(resistances, dtype=float)
    k = np.asarray(k, dtype=float)
    if r.shape[-1] != k.shape[-1]:
        raise FemeitError(f"{r.shape[-1]} resistances per frame but {k.shape[-1]} geometric factors")
    return r * k
