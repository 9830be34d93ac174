"""Exact surface potentials of point electrodes on grounds that do not vary along y.

Both solutions follow from the method of images (Telford, Geldart & Sheriff,
*Applied Geophysics*, 2nd ed., Cambridge 1990, chapter 8): with
the reflection coefficient kappa = (rho2 - rho1) / (rho2 + rho1),

- **two layers** (a layer of resistivity rho1 and thickness h over a
  half-space rho2): the images of a surface source lie at depths 2 n h,
  n = 1, 2, ..., with strength kappa^n, doubled by the surface::

      U(r) = I rho1 / (2 pi) [1 / r + 2 sum_n kappa^n / sqrt(r^2 + (2 n h)^2)]

- **vertical contact** at x = x_c between rho1 (the source's side) and
  rho2: in the source's medium U = I rho1 / (2 pi) (1 / r + kappa / r'),
  with r' the distance to the source's mirror image in the contact; in the
  other medium U = I rho1 (1 + kappa) / (2 pi r).

Both are 2D (y-invariant) grounds, so they are exact references for the
2.5D model of :mod:`femeit.ert.forward25d`.  Electrodes are on the surface
z = 0 at positions x along the profile.
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError

__all__ = ["two_layer_green", "vertical_contact_green"]


def _x(positions: np.ndarray) -> np.ndarray:
    x = np.asarray(positions, dtype=float)
    if x.ndim == 2:
        if x.shape[1] not in (2, 3) or np.any(x[:, 1:] != 0):
            raise FemeitError("exact solutions need electrodes on the surface line (y = z = 0): pass x or (x, 0)")
        x = x[:, 0]
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise FemeitError("electrode positions must be finite x values along the profile")
    return x


def two_layer_green(
    positions: np.ndarray, rho1: float, rho2: float, thickness: float, tol: float = 1e-14
) -> np.ndarray:
    """Potential at each electrode for 1 A into each electrode, two-layer ground (module docstring).

    Parameters
    ----------
    positions : ndarray, shape (L,) or (L, 2)
        Surface electrode positions x (or (x, 0)), m.
    rho1, rho2 : float
        Resistivities of the layer and the substratum, ohm m.
    thickness : float
        Layer thickness h, m.
    tol : float
        The image series stops when |kappa|^n falls below ``tol``.

    Returns
    -------
    ndarray, shape (L, L)
        G[i, j], V per A; NaN on the diagonal.
    """
    x = _x(positions)
    if not (rho1 > 0 and rho2 > 0 and thickness > 0):
        raise FemeitError("resistivities and the layer thickness must be positive")
    kappa = (rho2 - rho1) / (rho2 + rho1)
    r = np.abs(x[:, None] - x[None, :])
    with np.errstate(divide="ignore"):
        g = 1.0 / r
    n_terms = 0 if kappa == 0 else int(np.ceil(np.log(tol) / np.log(abs(kappa))))
    n = np.arange(1, n_terms + 1)
    g = g + 2 * np.sum(kappa ** n[:, None, None] / np.sqrt(r[None] ** 2 + (2 * n[:, None, None] * thickness) ** 2), 0)
    g = rho1 / (2 * np.pi) * g
    np.fill_diagonal(g, np.nan)
    return g


def vertical_contact_green(positions: np.ndarray, x_contact: float, rho_left: float, rho_right: float) -> np.ndarray:
    """Potential at each electrode for 1 A into each electrode, vertical contact (module docstring).

    Parameters
    ----------
    positions : ndarray, shape (L,) or (L, 2)
        Surface electrode positions x, m (none on the contact).
    x_contact : float
        Position of the contact, m.
    rho_left, rho_right : float
        Resistivities for x < x_contact and x > x_contact, ohm m.

    Returns
    -------
    ndarray, shape (L, L)
        G[i, j], V per A; NaN on the diagonal.
    """
    x = _x(positions)
    if not (rho_left > 0 and rho_right > 0):
        raise FemeitError("resistivities must be positive")
    if np.any(x == x_contact):
        raise FemeitError("an electrode on the contact itself is not supported")
    left = x < x_contact
    src, obs = x[None, :], x[:, None]
    rho_src = np.where(left, rho_left, rho_right)[None, :]
    rho_other = np.where(left, rho_right, rho_left)[None, :]
    kappa = (rho_other - rho_src) / (rho_other + rho_src)
    same = left[:, None] == left[None, :]
    with np.errstate(divide="ignore"):
        direct = 1.0 / np.abs(obs - src)
        image = 1.0 / np.abs(obs - (2 * x_contact - src))
    g = np.where(same, direct + kappa * image, (1 + kappa) * direct) * rho_src / (2 * np.pi)
    np.fill_diagonal(g, np.nan)
    return g
