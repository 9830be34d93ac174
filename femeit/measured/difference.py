"""Difference imaging helpers: linearised reconstruction of measured data changes.

Given a calibrated forward model (background sigma0 and contact impedances),
a reconstruction grid and the usable rows, the change ``dV = V_target - V_ref``
is inverted with the linearised model ``dV ~ J dsigma`` (J the Jacobian at
sigma0 on the grid), after weighting each row by a noise model::

    std_i = a |V_ref,i| + b mean|V_ref|

(relative error plus a floor; a = 0.01 and b = 0.01 by default), so the large
readings on current-carrying electrodes do not dominate.  The conductivity
change is returned relative to sigma0 (``dsigma / sigma0``), so images of
different calibrations compare.  The solvers are femeit's: Tikhonov (Marquardt),
Occam (second differences), truncated SVD, Landweber, backprojection, and the
L1 (sparsity) solvers GPSR-BB, TGPSR-BB, KGPSR-BB and TwIST with the KGPSR-BB
paper's column normalisation.  SMDR is not offered: its eq. 19 keeps only the
positive part of the image, and difference data with both resistive and
conductive objects need both signs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError

SPARSE_SOLVERS = ("gpsr", "tgpsr", "kgpsr", "twist")
SOLVERS = ("tikhonov", "occam", "tsvd", "landweber", "backprojection", *SPARSE_SOLVERS)


@dataclass(frozen=True, eq=False)
class DifferenceProblem:
    """A linearised difference-imaging problem on a grid.

    Attributes
    ----------
    jacobian : ndarray, shape (n_rows, n_params)
        d V / d (dsigma / sigma0) on the grid, V, for all rows of the protocol.
    reference_model : ndarray, shape (n_rows,)
        The calibrated model's reference voltages, V.
    grid : femeit.grids.Grid
        The reconstruction grid.
    sigma0 : float
        Background conductivity, S/m.
    """

    jacobian: np.ndarray
    reference_model: np.ndarray
    grid: object
    sigma0: float

    @classmethod
    def build(cls, model, sigma0: float, grid) -> DifferenceProblem:
        """Jacobian of ``model`` at the homogeneous ``sigma0`` on ``grid`` (relative conductivity)."""
        if not (np.isfinite(sigma0) and sigma0 > 0):
            raise FemeitError(f"sigma0 must be positive, got {sigma0}")
        jac = model.jacobian(sigma0, basis=grid.P) * sigma0
        return cls(jac, model.simulate(sigma0), grid, float(sigma0))

    def weights(self, reference: np.ndarray, relative: float = 0.01, floor: float = 0.01) -> np.ndarray:
        """Row weights 1 / (relative |V_ref| + floor mean|V_ref|), shape (n_rows,); NaN rows get 0."""
        ref = np.asarray(reference, dtype=float)
        if ref.shape != (self.jacobian.shape[0],):
            raise FemeitError(f"reference must have {self.jacobian.shape[0]} values, got shape {ref.shape}")
        a = np.abs(np.nan_to_num(ref))
        std = relative * a + floor * a[np.isfinite(ref)].mean()
        return np.where(np.isfinite(ref), 1.0 / std, 0.0)

    def system(
        self,
        target: np.ndarray,
        reference: np.ndarray,
        mask: np.ndarray,
        relative: float = 0.01,
        floor: float = 0.01,
        remove_offset: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weighted (J, dV, V_ref) restricted to the usable rows.

        With ``remove_offset`` the data and the Jacobian are projected onto the
        complement of the response to a uniform change of conductivity
        (``J @ 1``), so a global drift between reference and target (the water's
        temperature) does not appear as a halo over the whole image.

        Parameters
        ----------
        target, reference : ndarray, shape (n_rows,)
            Measured voltages with and without the target, V.
        mask : ndarray of bool, shape (n_rows,)
            Usable rows; rows outside it may be NaN and are dropped.

        Returns
        -------
        jac : ndarray, shape (n_used, n_params)
        dv : ndarray, shape (n_used,)
        ref : ndarray, shape (n_used,)
            Weighted, so that the rows have unit noise under the noise model.
        """
        mask = np.asarray(mask, dtype=bool)
        n = self.jacobian.shape[0]
        target, reference = np.asarray(target, float), np.asarray(reference, float)
        if mask.shape != (n,) or target.shape != (n,) or reference.shape != (n,):
            raise FemeitError(f"target, reference and mask must all have {n} rows")
        if not mask.any():
            raise FemeitError("no usable rows")
        if not (np.all(np.isfinite(target[mask])) and np.all(np.isfinite(reference[mask]))):
            raise FemeitError("the mask keeps rows with NaN or infinite values")
        w = self.weights(np.where(mask, reference, np.nan), relative, floor)[mask]
        jac, dv = self.jacobian[mask] * w[:, None], (target - reference)[mask] * w
        if remove_offset:
            j0 = jac.sum(axis=1)
            j0 /= np.linalg.norm(j0)
            jac = jac - np.outer(j0, j0 @ jac)
            dv = dv - j0 * (j0 @ dv)
        return jac, dv, reference[mask] * w


def strength_parameters(name: str, strength: float | None) -> dict:
    """The registry parameters that ``strength`` stands for with solver ``name`` (empty for None).

    lambda = strength * scale for Tikhonov and Occam (``lam_rel``; the scale is
    s_max^2 for Tikhonov, ||S||^2 / ||L||^2 for Occam), the kept fraction of
    singular values for TSVD, the number of iterations for Landweber (fixed,
    no discrepancy stop), and lambda = strength * ||S_N'y||_inf for the L1
    solvers (``lam_factor``).  Backprojection has none.
    """
    if strength is None:
        return {}
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        raise FemeitError(f"strength must be a positive number, got {strength!r}") from None
    if not (np.isfinite(strength) and strength > 0):
        raise FemeitError(f"strength must be a positive number, got {strength}")
    if name in ("tikhonov", "occam"):
        return {"lam_rel": strength}
    if name == "tsvd":
        return {"rank_fraction": strength}
    if name == "landweber":
        return {"iterations": max(1, round(strength)), "stop": "fixed"}
    if name in SPARSE_SOLVERS:
        return {"lam_factor": strength}
    raise FemeitError(f"strength has no meaning for {name}")


def reconstruct(
    name: str,
    jac: np.ndarray,
    dv: np.ndarray,
    ref: np.ndarray,
    grid,
    strength: float | None = None,
    noise=None,
) -> np.ndarray:
    """Difference image with one of :data:`SOLVERS`, on the grid's parameters.

    A shortcut for one frame through the solver registry
    (:func:`femeit.inverse.base.build`); for many frames build the solver once.

    Parameters
    ----------
    name : str
        One of :data:`SOLVERS`.
    jac, dv, ref : ndarrays
        The weighted system from :meth:`DifferenceProblem.system`.
    grid : Grid
        For Occam's difference operator.
    strength : float, optional
        The solver's regularisation as a fraction of its natural scale
        (:func:`strength_parameters`).  None: the solver's automatic default
        (:mod:`femeit.inverse.parameter`: L-curve with safeguards, or the
        discrepancy principle when ``noise`` is given).
    noise : NoiseModel, optional
        Noise of the weighted rows; ``NoiseModel(absolute=1.0)`` says the
        weighting of :meth:`DifferenceProblem.system` is the true noise level.

    Returns
    -------
    ndarray, shape (n_params,)
        dsigma / sigma0 (backprojection: up to a scale).
    """
    from femeit.inverse.base import build

    if name not in SOLVERS:
        raise FemeitError(f"unknown difference solver {name!r}; choose one of {SOLVERS}")
    jac, dv = np.asarray(jac, dtype=float), np.asarray(dv, dtype=float)
    if jac.ndim != 2 or dv.shape != (jac.shape[0],):
        raise FemeitError(f"dv must have one value per Jacobian row: jac {jac.shape}, dv {dv.shape}")
    if not (np.all(np.isfinite(jac)) and np.all(np.isfinite(dv))):
        raise FemeitError("the Jacobian or the data change holds NaN or infinite values")
    if ref is not None and np.shape(ref) != dv.shape:
        raise FemeitError(f"ref must have one value per Jacobian row ({dv.shape}), got shape {np.shape(ref)}")
    params = strength_parameters(name, strength)
    if name in SPARSE_SOLVERS and not np.any(jac.T @ dv):
        raise FemeitError("the data change is zero (or orthogonal to the Jacobian): nothing to image")
    return build(name, jac, grid=grid, reference=ref, noise=noise, **params)(dv).x


def to_challenge_image(grid, x: np.ndarray, shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    """A grid image resampled to the challenge's pixels over the grid's extent (bilinear; 0 outside).

    Parameters
    ----------
    grid : Grid
        A pixel grid (``to_image`` works).
    x : ndarray, shape (n_params,)
    shape : (ny, nx)

    Returns
    -------
    ndarray, shape (ny, nx)
        Row 0 at the top (+y), as the ground truth.
    """
    from scipy.ndimage import map_coordinates

    img = np.nan_to_num(grid.to_image(x), nan=0.0)
    ny, nx = img.shape
    # Pixel centres of the output in input pixel coordinates (same extent).
    rows = (np.arange(shape[0]) + 0.5) * ny / shape[0] - 0.5
    cols = (np.arange(shape[1]) + 0.5) * nx / shape[1] - 0.5
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return map_coordinates(img, [rr, cc], order=1, mode="nearest")
