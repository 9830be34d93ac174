"""The KTC2023 challenge score of a segmentation.

The scoring rule of the Kuopio Tomography Challenge 2023 (Finnish Inverse Problems
Society, https://www.fips.fi/KTC2023.php): the mean, over the resistive and the
conductive class, of a Gaussian-windowed SSIM between the true and the predicted
class masks (:func:`femeit.metrics.gaussian_ssim`, window standard deviation 80
pixels on the 256 x 256 images).
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError
from femeit.metrics import gaussian_ssim


def ktc_score(truth: np.ndarray, segmentation: np.ndarray) -> float:
    """KTC2023 challenge score of a segmentation: mean of the Gaussian SSIMs of classes 1 and 2.

    Parameters
    ----------
    truth, segmentation : ndarray of int, shape (256, 256)
        Labels 0 (water), 1 (resistive), 2 (conductive).

    Returns
    -------
    float
        1 is perfect; an all-water segmentation scores about 0.26 on the four training targets.
    """
    t, s = np.asarray(truth), np.asarray(segmentation)
    if t.shape != s.shape or t.ndim != 2:
        raise FemeitError(f"truth and segmentation must be 2D of one shape, got {t.shape} and {s.shape}")
    for name, a in (("truth", t), ("segmentation", s)):
        if not np.all(np.isin(a, (0, 1, 2))):
            raise FemeitError(f"{name} must hold only the labels 0, 1 and 2")
    return 0.5 * sum(gaussian_ssim(t == c, s == c) for c in (1, 2))
