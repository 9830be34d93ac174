"""Choosing the classical pipeline's settings on simulated tank targets (never on the public ones).

For one level: every candidate lambda reconstructs every simulated target
(noise of the reference's noise model, the level's mask), every candidate
segmentation labels it, and the setting with the best mean challenge score
wins.  The search scores on a coarser image (64 x 64, Gaussian window 20
pixels: the challenge's 80-pixel window at a quarter of the resolution), which
ranks settings like the full score at a sixteenth of the cost.
"""

from __future__ import annotations

import numpy as np

from femeit.errors import FemeitError
from femeit.ktc2023.classical import Settings, TankImager, segment
from femeit.ktc2023.reader import IMAGE_SHAPE, usable_rows
from femeit.ktc2023.targets import add_noise

SEARCH_SHAPE = (64, 64)
LAMBDAS = (1.0, 3.0, 10.0)
SEGMENTATIONS = tuple((f, p, z) for f in (0.5, 0.6) for p in (0.5, 0.7) for z in (3.0, 6.0))


def batch_score(truth: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Challenge scores of many segmentations of one truth at a coarser resolution (window scaled with it).

    Parameters
    ----------
    truth : ndarray of int, shape (n, n)
    labels : ndarray of int, shape (k, n, n)

    Returns
    -------
    ndarray, shape (k,)
        Mean over classes 1 and 2 of the Gaussian SSIM (window std n * 80 / 256 pixels).
    """
    from femeit.metrics import gaussian_ssim

    n = truth.shape[0]
    if truth.shape != (n, n) or labels.shape[1:] != truth.shape:
        raise FemeitError(f"truth must be square and match the labels, got {truth.shape} and {labels.shape}")
    sigma = 80.0 * n / IMAGE_SHAPE[0]
    return np.array([0.5 * sum(gaussian_ssim(truth == c, lab == c, sigma=sigma) for c in (1, 2)) for lab in labels])


def search_level(
    imager: TankImager,
    sims: list,
    level: int,
    seed: int,
    lambdas=LAMBDAS,
    segmentations=SEGMENTATIONS,
) -> tuple[Settings, np.ndarray]:
    """The settings with the best mean simulated score at ``level``.

    Parameters
    ----------
    imager : TankImager
    sims : list of (truth, dv)
        From :func:`femeit.ktc2023.targets.simulate_targets` (noise-free, all rows).
    level : int
        1..7: its mask of removed electrodes is applied.
    seed : int
        Seed of the noise draws.
    lambdas, segmentations : sequences
        Candidates: Occam lambdas; (fraction, presence, z_min) triples.

    Returns
    -------
    settings : Settings
    scores : ndarray, shape (n_lambdas, n_segmentations)
        Mean simulated score of every candidate.
    """
    if not sims:
        raise FemeitError("no simulated targets to choose settings on")
    mask = usable_rows(imager.reference.protocol, level)
    std = imager.noise_std()
    rng = np.random.default_rng(seed)
    noisy = [add_noise(dv, std, mask, rng) for _, dv in sims]
    step = IMAGE_SHAPE[0] // SEARCH_SHAPE[0]
    truths = [t[step // 2 :: step, step // 2 :: step] for t, _ in sims]
    scores = np.zeros((len(lambdas), len(segmentations)))
    for i, lam in enumerate(lambdas):
        for truth, d in zip(truths, noisy, strict=True):
            img, noise = imager.image(d, mask, lam, SEARCH_SHAPE)
            labels = np.array([segment(img, noise, Settings(lam, *s)) for s in segmentations])
            scores[i] += batch_score(truth, labels)
    scores /= len(sims)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return Settings(float(lambdas[i]), *map(float, segmentations[j])), scores
