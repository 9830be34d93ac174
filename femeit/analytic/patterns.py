"""Turn a transfer matrix of electrode potentials into a protocol's readings."""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError
from femeit.protocol import Protocol


def protocol_voltages(protocol: Protocol, potentials: np.ndarray) -> np.ndarray:
    """Readings of ``protocol`` from electrode potentials of its current patterns.

    Parameters
    ----------
    protocol : Protocol
    potentials : ndarray, shape (n_injections, L)
        Electrode potentials, V, for each of the protocol's current patterns.
        Entries may be NaN where undefined (e.g. at a point source) as long as no
        reading uses them.

    Returns
    -------
    ndarray, shape (n_rows,)
    """
    u = potentials[protocol.row_injection]
    weights = protocol.measurements
    used = weights != 0
    if np.any(~np.isfinite(u) & used):
        raise FemeitError(
            "a reading uses the potential of a current-carrying point electrode, which is infinite; "
            "use a protocol that excludes current electrodes from the readings"
        )
    return np.where(used, weights * np.where(used, u, 0.0), 0.0).sum(axis=1)


def point_source_potentials(green, positions: np.ndarray, injections: np.ndarray) -> np.ndarray:
    """Superpose point-source potentials: U[p, l] = sum_k I[p, k] G(x_l, x_k), NaN where l carries current.

    ``green(r_vectors_l, r_vectors_k)`` returns G for every pair, with the
    diagonal (l == k) ignored.
    """
    g = green(positions[:, None, :], positions[None, :, :])
    np.fill_diagonal(g, 0.0)
    u = injections @ g.T
    carrying = injections != 0
    return np.where(carrying, np.nan, u)
