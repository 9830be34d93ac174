"""Network inputs of the CNN-EIM paper (electrical impedance maps), in numpy: no torch needed.

* Calibration, eq. 4: ``vc = (v - v_ref) / v_ref`` per entry of the impedance map,
  with v_ref the map of the sensor filled with the background.  Entries that
  involve a driving electrode are 0 in both maps and stay 0.
* Normalisation, eq. 5: ``vn = (vc - mu) / sd`` with the per-entry mean and
  standard deviation over the training split.  Entries with sd = 0 (the 48
  always-zero entries of a 16-electrode map) get sd = 1, so they stay 0.
* The baselines' inputs: REIM, the map with its 256 entries rearranged by one
  fixed random permutation (seeded), and EIV, the 104 reciprocal-unique
  readings of the 208 (the upper triangle of the map in the drive-major order
  of :meth:`femeit.protocol.Protocol.reciprocal_unique_rows`).
* Targets: the relative conductivity decrease ``1 - sigma / sigma_background``
  of the 64 x 64 image (0 in the background, about 1 in an insulating object):
  the paper does not say how it scales its images; ours is unit-free, so the
  loss weights do not depend on the background conductivity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femeit.errors import FemeitError

INPUTS = ("eim", "reim", "eiv")


def calibrate(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """CNN-EIM eq. 4: relative change of each entry against the background reference.

    Parameters
    ----------
    values : ndarray, shape (..., n)
        Readings (or maps) with objects.
    reference : ndarray, shape (n,)
        The same of the background-filled sensor; zeros (unused map entries) give 0.
    """
    values = np.asarray(values, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if values.shape[-reference.ndim :] != reference.shape:
        raise FemeitError(f"readings of shape {values.shape} do not match the reference {reference.shape}")
    if not np.all(np.isfinite(values)):
        raise FemeitError("readings contain NaN or infinite values")
    safe = np.where(reference == 0, 1.0, reference)
    return np.where(reference == 0, 0.0, (values - reference) / safe)


@dataclass(frozen=True)
class Normalizer:
    """Per-entry z-score of CNN-EIM eq. 5, fitted on the training split.

    Attributes: ``mean`` and ``std``, arrays of the input's shape.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, calibrated: np.ndarray) -> Normalizer:
        """Fit on calibrated training inputs of shape (n_samples, ...)."""
        calibrated = np.asarray(calibrated, dtype=float)
        if len(calibrated) < 2:
            raise FemeitError("the normalizer needs at least 2 training samples")
        std = calibrated.std(axis=0)
        return cls(calibrated.mean(axis=0), np.where(std > 0, std, 1.0))

    def __call__(self, calibrated: np.ndarray) -> np.ndarray:
        return (np.asarray(calibrated, dtype=float) - self.mean) / self.std


def reim_permutation(n_entries: int = 256, seed: int = 0) -> np.ndarray:
    """The fixed random rearrangement of the map's entries used by CNN-REIM."""
    return np.random.default_rng(seed).permutation(n_entries)


def network_input(kind: str, eim: np.ndarray, eiv: np.ndarray | None, permutation: np.ndarray | None) -> np.ndarray:
    """Arrange normalised data for a network: (n, 1, L, L) maps or (n, 104) vectors."""
    if kind == "eim":
        return eim[:, None, :, :]
    if kind == "reim":
        n, size = len(eim), eim.shape[-1]
        return eim.reshape(n, -1)[:, permutation].reshape(n, 1, size, size)
    if kind == "eiv":
        return eiv
    raise FemeitError(f"unknown input kind {kind!r}; choose one of {INPUTS}")


def image_target(images: np.ndarray, background: float) -> np.ndarray:
    """Relative conductivity decrease ``1 - sigma / background``, the training target."""
    return 1.0 - np.asarray(images, dtype=np.float32) / np.float32(background)


def image_from_target(target: np.ndarray, background: float) -> np.ndarray:
    """Conductivity image (S/m) from a network output."""
    return (1.0 - np.asarray(target, dtype=float)) * background
