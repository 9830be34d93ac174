"""Point electrodes on the surface of a homogeneous half-space."""

from __future__ import annotations

import numpy as np

from femeit.analytic.patterns import point_source_potentials


def halfspace_point_potentials(positions: np.ndarray, sigma: float, injections: np.ndarray) -> np.ndarray:
    """Electrode potentials of surface point sources on a homogeneous half-space.

    3D: a current I entering at a surface point gives phi = I / (2 pi sigma r)
    (the full-space potential doubled by the insulating surface).  2D (a
    half-plane, fields per unit length): phi = -I / (pi sigma) ln r.

    Parameters
    ----------
    positions : ndarray, shape (L, 2) or (L, 3)
        Electrode positions on the surface, m.
    sigma : float
        Conductivity, S/m.
    injections : ndarray, shape (n_injections, L)
        Current patterns, A (each summing to zero).

    Returns
    -------
    ndarray, shape (n_injections, L)
        Potentials, V, NaN on current-carrying electrodes (where they are infinite).
        In 2D they are defined up to a constant, which cancels in differences.
    """
    positions = np.asarray(positions, dtype=float)
    dim = positions.shape[1]

    def green(x, y):
        r = np.linalg.norm(x - y, axis=-1)
        r = np.where(r == 0, 1.0, r)
        if dim == 3:
            return 1.0 / (2 * np.pi * sigma * r)
        return -np.log(r) / (np.pi * sigma)

    return point_source_potentials(green, positions, np.atleast_2d(injections))
