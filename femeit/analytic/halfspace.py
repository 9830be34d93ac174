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


def halfspace_sensitivity(
    positions: np.ndarray,
    protocol,
    lower: np.ndarray,
    upper: np.ndarray,
    sigma: float = 1.0,
    subdivisions: int = 4,
    order: int = 4,
) -> np.ndarray:
    """Lead-field sensitivity of a homogeneous half-space over boxes, Gasulla 2005 eqs. 7-8.

    ``s_ij = -int_box_j grad phi_i . grad psi_i dv / I^2`` with phi the potential of
    row i's current pattern and psi that of its measurement pattern driven as a
    current, both for point electrodes on the surface of a half-space of
    conductivity ``sigma`` (phi = I / (2 pi sigma r)).  This is dZ_i / dsigma_j
    for a small change of conductivity in box j, independent of any mesh.

    Each box is split into ``subdivisions^3`` sub-boxes with an ``order^3``
    Gauss-Legendre rule; the integrand is singular (but integrable) at an
    electrode on a box face, where the rule converges slowly.

    Parameters
    ----------
    positions : ndarray, shape (L, 3)
        Electrodes on z = 0, m.
    protocol : Protocol
    lower, upper : ndarray, shape (n_boxes, 3)
        Box corners, m (z <= 0).

    Returns
    -------
    ndarray, shape (n_rows, n_boxes)
        V per S/m at the protocol's currents.
    """
    positions = np.asarray(positions, dtype=float)
    lower, upper = np.atleast_2d(lower).astype(float), np.atleast_2d(upper).astype(float)
    nodes, weights = np.polynomial.legendre.leggauss(order)
    # Points and weights of the composite rule on the unit cube.
    cells = (np.arange(subdivisions)[:, None] + (nodes[None, :] + 1) / 2).ravel() / subdivisions
    w1 = np.tile(weights / 2, subdivisions) / subdivisions
    gx, gy, gz = np.meshgrid(cells, cells, cells, indexing="ij")
    unit = np.column_stack([gx.ravel(), gy.ravel(), gz.ravel()])
    w = np.einsum("i,j,k->ijk", w1, w1, w1).ravel()
    out = np.empty((protocol.n_rows, len(lower)))
    for j in range(len(lower)):
        size = upper[j] - lower[j]
        pts = lower[j] + unit * size  # (q, 3)
        wj = w * np.prod(size)
        d = pts[None, :, :] - positions[:, None, :]  # (L, q, 3)
        r3 = np.linalg.norm(d, axis=2) ** 3
        # Gradient of 1 / (2 pi sigma r) for a unit current at each electrode.
        unit_grad = -d / (2 * np.pi * sigma * r3[:, :, None])  # (L, q, 3)
        grad_inj = np.einsum("pl,lqd->pqd", protocol.injections, unit_grad)
        grad_meas = np.einsum("ml,lqd->mqd", protocol.measurements, unit_grad)
        out[:, j] = -np.einsum("mqd,mqd,q->m", grad_inj[protocol.row_injection], grad_meas, wj)
    return out
