"""Total and equipotential backprojection, Gasulla & Pallas-Areny (IEEE Sensors J. 2005) eqs. 20-22.

``dsigma_j / sigma0_j = -k sum_i s_ij (dz_i / z0_i) / sum_i s_ij``: a sensitivity-
weighted average of the relative data change (Kotre's linear backprojection).
The equipotential variant keeps s_ij only for cells between the equipotential
surfaces through the two measuring electrodes of row i (Fig. 5).
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError


def backprojection(
    jac: np.ndarray, dz: np.ndarray, z0: np.ndarray, k: float = 1.0, mask: np.ndarray | None = None
) -> np.ndarray:
    """Total (``mask=None``) or equipotential backprojection.

    Parameters
    ----------
    jac : ndarray, shape (m, n)
        Sensitivities s_ij on the grid.
    dz : ndarray, shape (m,) or (m, frames)
        Data change z - z0.
    z0 : ndarray, shape (m,)
        Reference data (no zero entries).
    k : float
        Amplification factor (empirical in the paper; 1 here).
    mask : ndarray of bool, shape (m, n), optional
        Cells between the equipotential surfaces of each row (:func:`equipotential_mask`).

    Returns
    -------
    ndarray, shape (n,) or (n, frames)
        Relative conductivity change dsigma / sigma0.
    """
    jac = np.asarray(jac, dtype=float)
    dz, z0 = np.asarray(dz, dtype=float), np.asarray(z0, dtype=float)
    if z0.shape != (jac.shape[0],) or dz.shape[0] != jac.shape[0]:
        raise FemeitError(f"dz and z0 must have {jac.shape[0]} rows, got {dz.shape} and {z0.shape}")
    if np.any(z0 == 0) or not np.all(np.isfinite(z0)) or not np.all(np.isfinite(dz)):
        raise FemeitError("reference data must be finite and non-zero, and dz finite")
    s = jac if mask is None else np.where(mask, jac, 0.0)
    weights = s.sum(axis=0)
    weights = np.where(weights == 0, np.inf, weights)  # cells no row sees stay 0
    rel = dz / (z0 if dz.ndim == 1 else z0[:, None])
    return -k * (s.T @ rel) / (weights if dz.ndim == 1 else weights[:, None])


def equipotential_mask(
    potentials: np.ndarray, electrode_potentials: np.ndarray, row_injection: np.ndarray, abmn: np.ndarray
) -> np.ndarray:
    """Cells lying between the equipotentials through M and N of each row.

    Parameters
    ----------
    potentials : ndarray, shape (n_injections, n)
        Potential of each current pattern at the cell centres (homogeneous medium).
    electrode_potentials : ndarray, shape (n_injections, L)
        Potentials at the electrodes for the same patterns.
    row_injection : ndarray of int, shape (m,)
    abmn : ndarray of int, shape (m, 4)

    Returns
    -------
    ndarray of bool, shape (m, n)
    """
    phi = potentials[row_injection]
    u_m = electrode_potentials[row_injection, abmn[:, 2]][:, None]
    u_n = electrode_potentials[row_injection, abmn[:, 3]][:, None]
    return (phi - u_m) * (phi - u_n) <= 0
