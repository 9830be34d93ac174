"""A buried sphere under point electrodes on the surface of a half-space.

Full-space solution (Legendre series): a point current I at distance d from
the centre of a sphere of radius a and conductivity s1, in a background s0,
adds outside the sphere the potential::

    phi_s(r) = I / (4 pi s0) sum_n B_n rho^-(n+1) P_n(cos gamma),
    B_n = n (s0 - s1) a^(2n+1) / (((n+1) s0 + n s1) d^(n+1))

with rho the distance from the centre and gamma the angle between the
directions to the observation point and to the source (B_n -> -a^(2n+1)/d^(n+1)
for a perfect conductor).

Half-space: the insulating surface z = 0 is replaced by images: the surface
source becomes 2I in full space, and the sphere gets a mirror image above the
surface.  Each sphere is solved in the field of the 2I source alone; the
interaction between the sphere and its image (a field scattered by one and
re-scattered by the other) is neglected.  Its relative size is of order
(a / 2h)^3 for a sphere at depth h (0.5 % at a = 0.5, h = 1.5; 0.1 % at
h = 2.5), which bounds the accuracy of this reference for the anomaly.
On the surface both spheres contribute equally.
"""

from __future__ import annotations

import numpy as np
from scipy.special import eval_legendre

from femeit.errors import FemeitError


def halfspace_sphere_anomaly(
    positions: np.ndarray,
    centre: np.ndarray,
    radius: float,
    sigma_background: float,
    sigma_sphere: float,
    injections: np.ndarray,
    n_terms: int = 80,
) -> np.ndarray:
    """Anomalous surface potentials of a buried sphere (image approximation, see module docstring).

    Parameters
    ----------
    positions : ndarray, shape (L, 3)
        Electrode positions on the surface z = 0, m.
    centre : array_like, shape (3,)
        Sphere centre (z < -radius), m.
    radius : float
        Sphere radius, m.
    sigma_background, sigma_sphere : float
        Conductivities, S/m; ``np.inf`` for a perfectly conducting sphere.
    injections : ndarray, shape (n_injections, L)
        Current patterns, A.
    n_terms : int
        Legendre terms kept.

    Returns
    -------
    ndarray, shape (n_injections, L)
        phi(with sphere) - phi(homogeneous) at every electrode, V (finite
        everywhere, including the current electrodes).
    """
    positions = np.asarray(positions, dtype=float)
    centre = np.asarray(centre, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3 or np.any(np.abs(positions[:, 2]) > 1e-12):
        raise FemeitError("positions must have shape (L, 3) and lie on the surface z = 0")
    if centre[2] + radius >= 0:
        raise FemeitError("the sphere must lie below the surface (centre z + radius < 0)")
    s0, s1 = float(sigma_background), float(sigma_sphere)
    if s0 <= 0 or s1 <= 0:
        raise FemeitError("conductivities must be positive (np.inf for a perfect conductor)")
    n = np.arange(1, n_terms + 1)
    contrast = -np.ones_like(n, dtype=float) if np.isinf(s1) else n * (s0 - s1) / ((n + 1) * s0 + n * s1)
    rel = positions - centre  # (L, 3): from the centre to each electrode
    dist = np.linalg.norm(rel, axis=1)
    unit = rel / dist[:, None]
    cos_gamma = np.clip(unit @ unit.T, -1.0, 1.0)  # [observation, source]
    # Green's function of the anomaly: response at electrode i to a unit current at electrode k.
    series = np.zeros_like(cos_gamma)
    for order, c in zip(n, contrast, strict=True):
        factor = radius ** (2 * order + 1) / (np.outer(dist, dist) ** (order + 1))
        series += c * factor * eval_legendre(order, cos_gamma)
    # 2I source (surface image) and two equal sphere contributions (sphere and its image).
    green = 4.0 / (4 * np.pi * s0) * series
    return np.atleast_2d(injections) @ green.T
