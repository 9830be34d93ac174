"""Figures of merit for reconstructed images: pure functions of (true, reconstructed).

All take flat parameter vectors (one value per pixel, voxel or element) and
treat every parameter equally, as the papers we reproduce do.
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError


def _pair(true: np.ndarray, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, r = np.asarray(true, dtype=float).ravel(), np.asarray(rec, dtype=float).ravel()
    if t.shape != r.shape:
        raise FemeitError(f"true and reconstructed images differ in size: {t.size} and {r.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
        raise FemeitError("images contain NaN or infinite values")
    return t, r


def correlation_coefficient(true: np.ndarray, rec: np.ndarray) -> float:
    """Pearson correlation coefficient CC between two images (KGPSR-BB eq. 23; SMDR)."""
    t, r = _pair(true, rec)
    t, r = t - t.mean(), r - r.mean()
    denom = np.linalg.norm(t) * np.linalg.norm(r)
    return float(t @ r / denom) if denom > 0 else 0.0


def relative_error(true: np.ndarray, rec: np.ndarray) -> float:
    """Relative image error RE = ||rec - true|| / ||true|| (SMDR paper)."""
    t, r = _pair(true, rec)
    norm = np.linalg.norm(t)
    if norm == 0:
        raise FemeitError("the relative error is undefined for an all-zero true image")
    return float(np.linalg.norm(r - t) / norm)


def mean_squared_error(true: np.ndarray, rec: np.ndarray) -> float:
    """MSE = mean((rec - true)^2) (KGPSR-BB eq. 24)."""
    t, r = _pair(true, rec)
    return float(np.mean((r - t) ** 2))


def nce(ideal: np.ndarray, rec: np.ndarray) -> float:
    """Normalised conductivity error of Gasulla & Pallas-Areny (2005), eq. 23.

    ``sqrt(mean_j (x_j / max x - ideal_j / max ideal)^2)``, with ``ideal`` 1 in
    the target voxel(s) and 0 elsewhere.
    """
    t, r = _pair(ideal, rec)
    if t.max() <= 0 or r.max() <= 0:
        raise FemeitError("NCE needs a positive maximum in both images")
    return float(np.sqrt(np.mean((r / r.max() - t / t.max()) ** 2)))


def main_blob(rec: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Mask of the parameters at or above ``threshold`` times the largest absolute value, on its sign."""
    r = np.asarray(rec, dtype=float).ravel()
    peak = r[np.argmax(np.abs(r))]
    if peak == 0:
        return np.zeros(r.shape, dtype=bool)
    return r * np.sign(peak) >= threshold * abs(peak)


def position_error(rec: np.ndarray, centres: np.ndarray, true_centre: np.ndarray, threshold: float = 0.5) -> float:
    """Distance from the true object centre to the amplitude-weighted centroid of the main blob, m.

    Parameters
    ----------
    rec : ndarray, shape (n_params,)
    centres : ndarray, shape (n_params, dim)
        Parameter centres (``Grid.centres``).
    true_centre : array_like, shape (dim,)
    """
    r = np.asarray(rec, dtype=float).ravel()
    mask = main_blob(r, threshold)
    if not mask.any():
        raise FemeitError("the image is zero: no blob to locate")
    w = np.abs(r[mask])
    centroid = (np.asarray(centres)[mask] * w[:, None]).sum(axis=0) / w.sum()
    return float(np.linalg.norm(centroid - np.asarray(true_centre, dtype=float)))


def resolution(rec: np.ndarray, measures: np.ndarray, threshold: float = 0.5) -> float:
    """Size of the main blob relative to the imaged region: sqrt(area above threshold / total area) (GREIT RES)."""
    r = np.asarray(rec, dtype=float).ravel()
    m = np.asarray(measures, dtype=float).ravel()
    if m.shape != r.shape:
        raise FemeitError("measures must have one value per parameter")
    return float(np.sqrt(m[main_blob(r, threshold)].sum() / m.sum()))
