"""Point electrodes on a homogeneous ball, and on a ball with a concentric inner sphere."""

from __future__ import annotations

import numpy as np
from scipy.special import eval_legendre

from femeit.analytic.patterns import point_source_potentials
from femeit.errors import FemeitError


def _homogeneous_green(radius: float, sigma: float):
    # Surface potential of a unit point current on the sphere, from the series
    # I/(4 pi sigma R) sum_{n>=1} (2n+1)/n P_n(t) summed in closed form with
    # sum_{n>=0} P_n(t) = 1/d and sum_{n>=1} P_n(t)/n = -ln((1 - t + d)/2),
    # d = sqrt(2 - 2t) = |x - y| / R.  Constants drop out of zero-sum patterns.
    def green(x, y):
        t = np.clip(np.sum(x * y, axis=-1) / radius**2, -1.0, 1.0)
        d = np.sqrt(np.maximum(2 - 2 * t, 1e-300))
        return (2.0 / d - np.log((1 - t + d) / 2)) / (4 * np.pi * sigma * radius)

    return green


def _check_on_sphere(positions: np.ndarray, radius: float) -> np.ndarray:
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise FemeitError(f"positions must have shape (L, 3), got {positions.shape}")
    r = np.linalg.norm(positions, axis=1)
    if np.any(np.abs(r - radius) > 1e-6 * radius):
        raise FemeitError(f"electrode positions must lie on the sphere of radius {radius}")
    return positions


def ball_point_potentials(positions: np.ndarray, radius: float, sigma: float, injections: np.ndarray) -> np.ndarray:
    """Electrode potentials on a homogeneous ball with point electrodes (closed form).

    Parameters
    ----------
    positions : ndarray, shape (L, 3)
        Electrode positions on the sphere |x| = radius, m.
    radius : float
        Ball radius, m.
    sigma : float
        Conductivity, S/m.
    injections : ndarray, shape (n_injections, L)
        Current patterns, A (each summing to zero).

    Returns
    -------
    ndarray, shape (n_injections, L)
        Potentials, V, up to a constant per pattern; NaN on current-carrying electrodes.
    """
    positions = _check_on_sphere(positions, radius)
    return point_source_potentials(_homogeneous_green(radius, sigma), positions, np.atleast_2d(injections))


def layered_ball_point_potentials(
    positions: np.ndarray,
    radius: float,
    sigma_outer: float,
    inner_radius: float,
    sigma_inner: float,
    injections: np.ndarray,
    tol: float = 1e-15,
) -> np.ndarray:
    """Electrode potentials on a ball with a concentric inner sphere (Legendre series).

    For each degree n the potential is gamma r^n inside radius a, alpha r^n +
    beta r^-(n+1) in the shell, with continuity of potential and normal current
    at r = a and the point-current Neumann condition at r = R.  Writing
    kappa_n = n (s2 - s1) / (n s1 + (n + 1) s2) and q = (a/R)^(2n+1), the surface
    coefficient is (2n+1)/(4 pi s2 R) (1 + kappa_n q) / (n - (n+1) kappa_n q).
    We sum the homogeneous part in closed form and the (fast-converging)
    difference term by term until it falls below ``tol`` relative.

    Parameters
    ----------
    positions : ndarray, shape (L, 3)
        On the sphere of radius ``radius``, m.
    radius, inner_radius : float
        Outer and inner radii, m.
    sigma_outer, sigma_inner : float
        Conductivities of the shell and the core, S/m.
    injections : ndarray, shape (n_injections, L)
        Current patterns, A.

    Returns
    -------
    ndarray, shape (n_injections, L)
    """
    if not 0 < inner_radius < radius:
        raise FemeitError(f"inner_radius must lie in (0, radius), got {inner_radius}")
    positions = _check_on_sphere(positions, radius)
    s1, s2 = float(sigma_inner), float(sigma_outer)
    ratio = inner_radius / radius
    n_max = int(np.ceil(np.log(tol) / (2 * np.log(ratio)))) + 2
    n = np.arange(1, n_max + 1)
    kappa = n * (s2 - s1) / (n * s1 + (n + 1) * s2)
    q = ratio ** (2 * n + 1)
    coef = (2 * n + 1) / (4 * np.pi * s2 * radius) * ((1 + kappa * q) / (n - (n + 1) * kappa * q) - 1.0 / n)
    base = _homogeneous_green(radius, s2)

    def green(x, y):
        t = np.clip(np.sum(x * y, axis=-1) / radius**2, -1.0, 1.0)
        series = sum(c * eval_legendre(k, t) for k, c in zip(n, coef, strict=True))
        return base(x, y) + series

    return point_source_potentials(green, positions, np.atleast_2d(injections))
