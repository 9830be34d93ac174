"""The classical KTC2023 pipeline: noise-weighted linearised difference imaging and a robust segmentation.

Steps (each a choice a contestant would make; the settings were chosen on
simulated tank targets, never on the public ones, see ``validation/ktc2023.py``):

1. **Calibration** of the 2D tank (:func:`femeit.ktc2023.tank_model`) to the
   empty-tank reference: background conductivity and one shared contact
   impedance (:func:`femeit.measured.calibration.calibrate`).
2. **Noise model from the reference**: ``std_i = e sqrt(|V_ref,i|^2 + mean|V_ref|^2)``
   (:meth:`femeit.noise_model.NoiseModel.from_reference`, relative error and floor
   both ``e``), where ``e`` is the reference's own non-reciprocity divided by 2:
   the antisymmetric part of the transfer impedances is half the difference of two
   readings that a reciprocal system makes equal, so it measures the error of one
   reading that no model can explain (:func:`estimate_noise`).
3. **Linearised difference imaging** ``dV ~ J x`` with ``x = dsigma / sigma0`` on
   a pixel grid, the rows of the level's removed electrodes dropped (the mask
   comes from the data), rows whitened by the noise model plus the calibrated
   model's misfit of each reference reading (:meth:`TankImager.weight_std`:
   rows the model cannot fit are trusted less), the response to a
   uniform change projected out (water temperature drift), solved with the
   registry's Occam solver (Gasulla & Pallas-Areny 2005, eq. 17) at a **fixed
   lambda in whitened units**: with unit-variance data noise, ``lam L'L`` is
   the prior precision of a smooth image, whatever the number of usable rows,
   so the strength does not collapse when readings are missing (an L-curve
   corner does: its position follows the data's singular values, which fall
   with every removed electrode).
4. **Segmentation** (:func:`segment`): the image divided by the pixelwise
   standard deviation of reconstructed noise (a z-score image; a sign's lobe is a
   class only if its peak z exceeds ``z_min``: no false class from noise), a class
   also absent when its peak is below ``presence`` times the other sign's (the
   ringing of a single object), then each present class thresholded at
   ``fraction`` of its peak.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from femeit.errors import FemeitError
from femeit.ktc2023.reader import IMAGE_SHAPE, RADIUS, Measurement, reciprocity_error
from femeit.ktc2023.tank import H, tank_model
from femeit.noise_model import NoiseModel

GRID_SHAPE = (32, 32)
N_NOISE_DRAWS = 48
"""Noise reconstructions used for the pixelwise noise level of the z-score test."""


@dataclass(frozen=True)
class Settings:
    """The pipeline's free choices at one level.

    Attributes
    ----------
    lam : float
        Occam lambda in whitened units (prior precision of the second differences).
    fraction : float
        Threshold as a fraction of each present class's peak, in (0, 1).
    presence : float
        A class is absent when its peak is below ``presence`` times the other sign's peak.
    z_min : float
        A class is absent when its peak z-score (image / noise std) is below this.
    """

    lam: float
    fraction: float
    presence: float
    z_min: float


CLASSICAL_SETTINGS = {
    1: Settings(3, 0.5, 0.5, 6),
    2: Settings(1, 0.5, 0.7, 3),
    3: Settings(10, 0.6, 0.5, 3),
    4: Settings(10, 0.6, 0.5, 3),
    5: Settings(10, 0.6, 0.7, 3),
    6: Settings(10, 0.6, 0.7, 3),
    7: Settings(3, 0.5, 0.7, 6),
}
"""Settings per level (1..7), chosen on 40 simulated targets (seed 2023) by ``python validation/ktc2023_settings.py``
(candidates: lambda 1, 3, 10; fraction 0.5, 0.6; presence 0.5, 0.7; z_min 3, 6)."""


def estimate_noise(reference: Measurement, mask: np.ndarray | None = None) -> NoiseModel:
    """Noise model of one reading from the reference measurement alone (see the module docstring, step 2).

    Parameters
    ----------
    reference : Measurement
        The empty tank, all rows finite (the reciprocity needs every pattern).
    mask : ndarray of bool, shape (n_rows,), optional
        Usable rows (a level's mask).

    Returns
    -------
    NoiseModel
        ``relative = floor = e`` with ``e`` half the reference's non-reciprocity.
    """
    e = 0.5 * reciprocity_error(reference)
    return NoiseModel.from_reference(reference.voltages, relative=e, floor=e, mask=mask)


@dataclass(eq=False)
class TankImager:
    """A calibrated tank with its Jacobian on a pixel grid and the reference's noise model.

    Build with :meth:`calibrated`.  :meth:`image` reconstructs one target's data at a level.

    Attributes
    ----------
    reference : Measurement
        Empty tank, all rows.
    model : ForwardModel
        The calibrated 2D tank.
    sigma0 : float
        Fitted background conductivity, S (2D).
    grid : PixelGrid
        Reconstruction grid over [-R, R]^2.
    jacobian : ndarray, shape (n_rows, n_pixels)
        d V / d (dsigma / sigma0), V.
    misfit_weighting : bool
        Whether :meth:`weight_std` adds the reference misfit (True, the pipeline's choice).
    """

    reference: Measurement
    model: object
    sigma0: float
    grid: object
    jacobian: np.ndarray
    misfit_weighting: bool = True
    _solvers: dict = field(default_factory=dict, repr=False)

    @classmethod
    def calibrated(cls, reference: Measurement, h: float = H, grid_shape: tuple[int, int] = GRID_SHAPE) -> TankImager:
        """Calibrate the tank to ``reference`` (sigma and a shared z) and build the Jacobian on a pixel grid.

        Parameters
        ----------
        reference : Measurement
            The level-1 (complete) empty-tank reference.
        h : float
            Bulk element size of the tank mesh, m.
        grid_shape : (ny, nx)
            Reconstruction pixels over [-0.115, 0.115]^2.
        """
        from femeit.measured.calibration import calibrate

        if not np.all(reference.mask):
            raise FemeitError(f"{reference.source}: the reference must be complete (all rows finite) to calibrate")
        model = tank_model(reference.protocol, h=h)
        # The calibrated z is tiny (nearly ideal electrodes), so the forward model warns that it keeps
        # fewer digits (ConditioningWarning); the warning is left visible, as the ratio sigma h / z is
        # dimensionless and no change of units removes it.
        fit = calibrate(model, reference.voltages)
        return cls.from_model(reference, model.with_contact_impedance(fit.contact_impedance), fit.sigma, grid_shape)

    @classmethod
    def from_model(
        cls, reference: Measurement, model, sigma0: float, grid_shape: tuple[int, int] = GRID_SHAPE
    ) -> TankImager:
        """An imager on an already calibrated tank ``model`` with background ``sigma0`` (S)."""
        from femeit.grids import PixelGrid

        if not (np.isfinite(sigma0) and sigma0 > 0):
            raise FemeitError(f"sigma0 must be positive, got {sigma0}")
        grid = PixelGrid(model.mesh, bounds=(-RADIUS, RADIUS, -RADIUS, RADIUS), shape=grid_shape)
        jac = model.jacobian(sigma0, basis=grid.P) * sigma0
        return cls(reference, model, float(sigma0), grid, jac)

    def noise_std(self) -> np.ndarray:
        """Random error of each reading, V, shape (n_rows,) (:func:`estimate_noise`): what simulations add."""
        return estimate_noise(self.reference).std(self.reference.voltages)

    def weight_std(self) -> np.ndarray:
        """Uncertainty of each row used to whiten the data, V, shape (n_rows,).

        ``sqrt(noise_std^2 + r^2)`` with ``r`` the calibrated model's residual on the
        reference: a row the tank model cannot fit (mostly readings on current-carrying
        electrodes) is trusted less in the difference data too.
        """
        if not self.misfit_weighting:
            return self.noise_std()
        mismatch = self.model.simulate(self.sigma0) - self.reference.voltages
        return np.sqrt(self.noise_std() ** 2 + mismatch**2)

    def _solver(self, mask: np.ndarray, lam: float, shape: tuple[int, int]):
        key = (np.packbits(mask).tobytes(), float(lam), tuple(shape), self.misfit_weighting)
        if key not in self._solvers:
            from femeit.inverse.base import build

            w = 1.0 / self.weight_std()[mask]
            jac = self.jacobian[mask] * w[:, None]
            # Project out the response to a uniform change (drift of the water between the two measurements).
            j0 = jac.sum(axis=1)
            j0 /= np.linalg.norm(j0)
            jac = jac - np.outer(j0, j0 @ jac)
            solver = build("occam", jac, grid=self.grid, lam=float(lam))
            rng = np.random.default_rng(0)
            draws = np.array(
                [
                    self._to_pixels(solver(n - j0 * (j0 @ n)).x, shape)
                    for n in rng.standard_normal((N_NOISE_DRAWS, mask.sum()))
                ]
            )
            self._solvers[key] = (solver, w, j0, draws.std(axis=0))
        return self._solvers[key]

    def _to_pixels(self, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        from femeit.measured.difference import to_challenge_image

        return to_challenge_image(self.grid, x, shape)

    def image(
        self, dv: np.ndarray, mask: np.ndarray, lam: float, shape: tuple[int, int] = IMAGE_SHAPE
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reconstruct ``dsigma / sigma0`` from a data change on the challenge's pixels.

        Parameters
        ----------
        dv : ndarray, shape (n_rows,)
            Target minus reference voltages, V; NaN allowed outside ``mask``.
        mask : ndarray of bool, shape (n_rows,)
            Usable rows.
        lam : float
            Occam lambda in whitened units.
        shape : (ny, nx)
            Output pixels over [-R, R]^2 (the challenge's 256 x 256 by default).

        Returns
        -------
        image : ndarray, shape (256, 256)
            dsigma / sigma0, row 0 at the top (+y).
        noise : ndarray, shape (256, 256)
            Pixelwise standard deviation of the image of pure noise (same units).
        """
        mask = np.asarray(mask, dtype=bool)
        dv = np.asarray(dv, dtype=float)
        if mask.shape != (self.jacobian.shape[0],) or dv.shape != mask.shape:
            raise FemeitError(f"dv and mask must have {self.jacobian.shape[0]} rows, got {dv.shape} and {mask.shape}")
        if not mask.any():
            raise FemeitError("no usable rows")
        if not np.all(np.isfinite(dv[mask])):
            raise FemeitError("the data change holds NaN or infinite values on usable rows")
        solver, w, j0, noise = self._solver(mask, lam, shape)
        y = dv[mask] * w
        return self._to_pixels(solver(y - j0 * (j0 @ y)).x, shape), noise

    def segment_target(self, target: Measurement, mask: np.ndarray, settings: Settings) -> np.ndarray:
        """Labels (256, 256) of one target measurement at a level's mask with ``settings``."""
        img, noise = self.image(target.voltages - self.reference.voltages, mask, settings.lam)
        return segment(img, noise, settings)


def segment(image: np.ndarray, noise: np.ndarray, settings: Settings) -> np.ndarray:
    """Water / resistive / conductive labels of a difference image (module docstring, step 4).

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        dsigma / sigma0 (negative: resistive, positive: conductive).
    noise : ndarray, shape (ny, nx)
        Pixelwise noise standard deviation of the image (positive where the image is defined).
    settings : Settings

    Returns
    -------
    ndarray of int, shape (ny, nx)
        0 water, 1 resistive, 2 conductive.
    """
    x = np.nan_to_num(np.asarray(image, dtype=float))
    s = np.asarray(noise, dtype=float)
    if x.shape != s.shape or x.ndim != 2:
        raise FemeitError(f"image and noise must be 2D of one shape, got {x.shape} and {s.shape}")
    z = np.where(s > 0, x / np.where(s > 0, s, 1.0), 0.0)
    low, high = max(-x.min(), 0.0), max(x.max(), 0.0)
    labels = np.zeros(x.shape, dtype=np.int64)
    if low > 0 and -z.min() >= settings.z_min and low >= settings.presence * high:
        labels[x <= -settings.fraction * low] = 1
    if high > 0 and z.max() >= settings.z_min and high >= settings.presence * low:
        labels[x >= settings.fraction * high] = 2
    return labels
