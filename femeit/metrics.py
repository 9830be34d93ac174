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


def gaussian_ssim(true: np.ndarray, rec: np.ndarray, sigma: float = 80.0, c1: float = 1e-4, c2: float = 9e-4) -> float:
    """Mean structural similarity with a Gaussian window (the KTC2023 score's building block).

    Local means, variances and covariance are Gaussian-weighted averages
    (standard deviation ``sigma`` pixels, kernel truncated at 2 sigma, zero
    outside the image, each average divided by the kernel mass inside the
    image), then ``SSIM = (2 mu_t mu_r + c1)(2 s_tr + c2) / ((mu_t^2 + mu_r^2 + c1)(s_t^2 + s_r^2 + c2))``
    averaged over all pixels.

    Parameters
    ----------
    true, rec : ndarray, shape (ny, nx)
        Images of the same shape (binary masks in the challenge).

    Returns
    -------
    float
        1 for identical images.
    """
    t, r = np.asarray(true, dtype=float), np.asarray(rec, dtype=float)
    if t.ndim != 2 or t.shape != r.shape:
        raise FemeitError(f"gaussian_ssim needs two 2D images of one shape, got {t.shape} and {r.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
        raise FemeitError("images contain NaN or infinite values")
    g = [_gaussian_matrix(n, sigma) for n in t.shape]  # separable window as matrices (BLAS, fast)
    mass = g[0].sum(axis=1)[:, None] * g[1].sum(axis=1)[None, :]

    def avg(a: np.ndarray) -> np.ndarray:
        return (g[0] @ a @ g[1].T) / mass

    mt, mr = avg(t), avg(r)
    vt, vr, cov = avg(t * t) - mt**2, avg(r * r) - mr**2, avg(t * r) - mt * mr
    ssim = (2 * mt * mr + c1) * (2 * cov + c2) / ((mt**2 + mr**2 + c1) * (vt + vr + c2))
    return float(ssim.mean())


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """Row i: the normalised Gaussian kernel (std ``sigma``, truncated at 2 sigma) centred on pixel i, zero outside."""
    if not sigma > 0:
        raise FemeitError(f"the window's standard deviation must be positive, got {sigma}")
    radius = int(2.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    d = np.arange(n)[None, :] - np.arange(n)[:, None]
    return np.where(np.abs(d) <= radius, kernel[np.clip(d + radius, 0, 2 * radius)], 0.0)
