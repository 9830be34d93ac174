"""Real tank data (KTC2023): calibrate, reconstruct, segment and score in one command.

Run:  python examples/ktc2023.py [--level 1] [--out DIR] [--root DIR] [--learned]

Builds the 2D tank (radius 0.115 m, 32 electrodes) with gmsh, fits the
background conductivity and a shared contact impedance to the empty-tank
reference, and runs the classical pipeline of :mod:`femeit.ktc2023.classical`:
noise-weighted linearised difference imaging (noise model from the reference,
the level's removed electrodes dropped, a fixed whitened-units strength per
level) and a segmentation with noise and presence tests, with the settings
chosen on simulated targets (no public ground truth is used for any choice).
Scores with the challenge's Gaussian SSIM and saves ``ktc2023.png`` (truth
beside reconstruction and segmentation).  ``--root`` reads a folder in either
published layout (training or evaluation set).  ``--learned`` runs the learned
pipeline instead (:mod:`femeit.learn.ktc_pipeline`: the same reconstruction
post-processed by a U-Net trained only on femeit's simulated tank data; needs
``femeit[learn]``).  Exits non-zero unless the mean score beats the
organisers' baseline at that level.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from femeit import ktc2023 as ktc
from femeit.errors import FemeitError
from femeit.ktc2023 import ktc_score
from femeit.ktc2023.classical import CLASSICAL_SETTINGS, TankImager, segment

BASELINE = (0.696, 0.675, 0.675, 0.621, 0.573, 0.465, 0.393)
"""The organisers' baseline on the public targets, level 1..7."""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", type=int, default=1, help="difficulty level 1..7")
    ap.add_argument("--out", default=".", help="folder for ktc2023.png")
    ap.add_argument("--root", default=None, help="a folder in a published layout (default: the packaged data)")
    ap.add_argument("--learned", action="store_true", help="the learned pipeline (U-Net) instead of the classical")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    level = ktc.load_level(args.level, args.root)
    truths = level_truths(args.root, args.level)
    imager = TankImager.calibrated(ktc.load_level(1, args.root).reference)  # complete at level 1
    print(f"calibration: sigma {imager.sigma0:.4g} S ({time.perf_counter() - start:.1f} s)")
    settings = CLASSICAL_SETTINGS[args.level]
    learned = None
    if args.learned:
        from femeit.learn.ktc_inputs import LevelInputs
        from femeit.learn.ktc_pipeline import WEIGHTS, LearnedKTC
        from femeit.learn.ktc_training import load

        learned = LearnedKTC(LevelInputs(imager.reference.protocol, imager), load(WEIGHTS))
        learned.inputs.operator(args.level, level.mask)  # the level's reconstruction matrix, built once
    results = {}
    for t, data in level.data.items():
        image, noise = imager.image(data.voltages - imager.reference.voltages, level.mask, settings.lam)
        if learned is None:
            labels = segment(image, noise, settings)
        else:
            tick = time.perf_counter()
            labels = learned.segment_target(data, level)
            print(f"target {t}: learned segmentation in {time.perf_counter() - tick:.2f} s")
        score = ktc_score(truths[t], labels) if t in truths else float("nan")
        results[t] = (image, labels, score, truths.get(t))
        print(f"target {t}: score {score:.3f}")
    mean = float(np.nanmean([v[2] for v in results.values()]))
    print(f"level {args.level}: mean score {mean:.3f} ({time.perf_counter() - start:.1f} s)")
    save_figure(Path(args.out) / "ktc2023.png", results, args.level)
    if args.level in ktc.LEVELS and mean <= BASELINE[args.level - 1]:
        print(f"FAIL: mean {mean:.3f} does not beat the baseline {BASELINE[args.level - 1]}")
        return 1
    return 0


def level_truths(root, level: int) -> dict:
    """The training layout's shared truths, or the evaluation layout's truths of ``level``."""
    try:
        return ktc.load_truths(root)
    except FemeitError:
        return ktc.load_truths(root, level)


def save_figure(path: Path, results: dict, level: int) -> None:
    """Truth, difference image and segmentation of each target, one column per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    fig, ax = plt.subplots(3, n, figsize=(3 * n, 9), squeeze=False)
    for i, (t, (image, labels, score, truth)) in enumerate(results.items()):
        v = np.abs(image).max()
        ax[0, i].imshow(truth if truth is not None else np.zeros_like(labels), vmin=0, vmax=2)
        ax[0, i].set_title(f"truth {t}")
        ax[1, i].imshow(image, cmap="RdBu_r", vmin=-v, vmax=v)
        ax[1, i].set_title("dsigma / sigma0")
        ax[2, i].imshow(labels, vmin=0, vmax=2)
        ax[2, i].set_title(f"segmentation: {score:.3f}")
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"KTC2023 level {level}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
