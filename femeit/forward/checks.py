"""Independent checks of a forward model's derivatives (used by tests and validation)."""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from femeit.forward.model import ForwardModel


def tangent_linear(model: ForwardModel, sigma: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Directional derivative of the readings by forward sensitivity, dV = d(readings)/dsigma . direction.

    Solves A dx = -dA x for every current pattern, with dA the derivative of the
    grounded system matrix along ``direction`` (the matrix is affine in sigma,
    so dA = A(sigma + direction) - A(sigma) exactly).  This uses no adjoint
    field, so comparing it with ``model.jacobian(sigma) @ direction`` is the
    adjoint (dot) test.

    Parameters
    ----------
    model : ForwardModel
    sigma, direction : ndarray, shape (n_elements,)
        Conductivity, S/m, and perturbation direction, S/m.

    Returns
    -------
    ndarray, shape (n_rows,)
    """
    sigma = model.conductivity(sigma)
    direction = np.asarray(direction, dtype=float)
    d = model.discretization
    a = d.system_matrix(sigma, model.block_data)
    da = d.system_matrix(sigma + direction, model.block_data) - a
    x_inj = model.fields(sigma).injections
    keep = d.plan.free
    dx = np.zeros_like(x_inj)
    dx[:, keep] = np.asarray(spla.spsolve(a.tocsc(), -(da @ x_inj[:, keep].T))).reshape(keep.sum(), -1).T
    du = dx[:, d.electrode_unknowns]
    protocol = model.protocol
    return np.einsum("ij,ij->i", protocol.measurements, du[protocol.row_injection])


def taylor_remainders(
    model: ForwardModel,
    sigma: np.ndarray,
    direction: np.ndarray,
    steps: tuple[float, ...] = (1e-2, 5e-3, 2.5e-3, 1.25e-3),
) -> tuple[np.ndarray, float]:
    """Taylor test: ||V(sigma + t d) - V(sigma) - t J d|| for each step t, and the fitted decay order.

    A correct Jacobian gives order 2 (the remainder is quadratic in t).
    """
    sigma = model.conductivity(sigma)
    v0 = model.simulate(sigma)
    jd = model.jacobian(sigma) @ direction
    rem = np.array([np.linalg.norm(model.simulate(sigma + t * direction) - v0 - t * jd) for t in steps])
    return rem, float(np.polyfit(np.log(steps), np.log(rem), 1)[0])
