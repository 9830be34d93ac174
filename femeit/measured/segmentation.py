"""Segmentation of difference images into water / resistive / conductive (KTC2023 classes).

A difference image x holds the conductivity change from the background:
negative where a resistive object is, positive where a conductive one is.
Two rules turn it into the labels 0 (background), 1 (resistive), 2 (conductive):

* :func:`threshold_segmentation` (half-maximum by default): a pixel is
  resistive when ``x <= -fraction * max(-x)`` and conductive when
  ``x >= fraction * max(x)``.  A class whose peak is below ``presence`` times
  the other class's peak is treated as absent (its lobe is then a ringing
  artefact of the other), so a one-object image does not grow a false twin.
* :func:`otsu_segmentation`: three-class Otsu thresholds on the histogram of
  x (the two thresholds that maximise the between-class variance); the lower
  class is resistive and the upper conductive, each kept only on its own side
  of zero.
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError

WATER, RESISTIVE, CONDUCTIVE = 0, 1, 2


def _image(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise FemeitError(f"segmentation needs a 2D image, got shape {x.shape}")
    return np.nan_to_num(x, nan=0.0)


def threshold_segmentation(x: np.ndarray, fraction: float = 0.5, presence: float = 0.0) -> np.ndarray:
    """Labels by thresholds at ``fraction`` of each sign's peak.

    Parameters
    ----------
    x : ndarray, shape (ny, nx)
        Difference image (conductivity change); NaN counts as 0.
    fraction : float
        In (0, 1): 0.5 is the half-maximum rule.
    presence : float
        A sign's lobe counts only if its peak is at least ``presence`` times the
        other sign's peak (0 keeps both always).

    Returns
    -------
    ndarray of int, shape (ny, nx)
        0 water, 1 resistive, 2 conductive.
    """
    if not 0 < fraction < 1:
        raise FemeitError(f"fraction must lie in (0, 1), got {fraction}")
    if presence < 0:
        raise FemeitError(f"presence must be non-negative, got {presence}")
    x = _image(x)
    low, high = max(-x.min(), 0.0), max(x.max(), 0.0)
    labels = np.zeros(x.shape, dtype=np.int64)
    if low > 0 and low >= presence * high:
        labels[x <= -fraction * low] = RESISTIVE
    if high > 0 and high >= presence * low:
        labels[x >= fraction * high] = CONDUCTIVE
    return labels


def multi_otsu_thresholds(values: np.ndarray, bins: int = 256) -> tuple[float, float]:
    """The two thresholds of three-class Otsu on ``values`` (vectorised over all threshold pairs).

    Returns
    -------
    (t1, t2) : floats, t1 < t2
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 3 or v.min() == v.max():
        raise FemeitError("Otsu thresholds need at least 3 distinct finite values")
    hist, edges = np.histogram(v, bins=bins)
    p = hist / hist.sum()
    c = 0.5 * (edges[:-1] + edges[1:])
    w = np.r_[0.0, np.cumsum(p)]  # w[i] = weight of bins < i
    m = np.r_[0.0, np.cumsum(p * c)]
    i, j = np.triu_indices(bins + 1, k=1)
    keep = (i >= 1) & (j <= bins - 1)
    i, j = i[keep], j[keep]
    w0, w1, w2 = w[i], w[j] - w[i], 1.0 - w[j]
    m0, m1, m2 = m[i], m[j] - m[i], m[-1] - m[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        between = np.nan_to_num(m0**2 / w0) + np.nan_to_num(m1**2 / w1) + np.nan_to_num(m2**2 / w2)
    k = int(np.argmax(between))
    return float(edges[i[k]]), float(edges[j[k]])


def otsu_segmentation(x: np.ndarray, bins: int = 256) -> np.ndarray:
    """Labels by three-class Otsu: below t1 resistive (if negative), above t2 conductive (if positive).

    Parameters
    ----------
    x : ndarray, shape (ny, nx)
        Difference image; NaN counts as 0.

    Returns
    -------
    ndarray of int, shape (ny, nx)
    """
    x = _image(x)
    t1, t2 = multi_otsu_thresholds(x, bins)
    labels = np.zeros(x.shape, dtype=np.int64)
    labels[(x < t1) & (x < 0)] = RESISTIVE
    labels[(x > t2) & (x > 0)] = CONDUCTIVE
    return labels
