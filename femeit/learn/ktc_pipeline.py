"""The learned KTC2023 pipeline: classical linearised reconstruction -> U-Net -> 256 x 256 segmentation.

1. The tank is calibrated to the measured empty-tank reference (as in
   :mod:`femeit.ktc2023.classical`), and each level's linear reconstruction
   operator is built (:class:`~femeit.learn.ktc_inputs.LevelInputs`).
2. A target's data change ``V_target - V_reference`` at a level (its mask of
   usable rows) becomes the three input channels of the network.
3. :class:`~femeit.learn.ktc_unet.KTCUNet` gives class scores at 64 x 64;
   they are upsampled to the challenge's 256 x 256, the most likely class taken
   per pixel, and pixels outside the tank set to water.

The shipped weights (:data:`WEIGHTS`) were trained on femeit's own simulated
tank data only (``datasets/ktc2023_tank.toml``); ``benchmarks/ktc_unet_train.sh``
rebuilds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError
from femeit.learn.ktc_inputs import LevelInputs

WEIGHTS = Path(__file__).resolve().parent.parent / "data" / "ktc_unet" / "model.pt"
"""The shipped ``ktc-unet`` weights (half precision)."""
IMAGE_SHAPE = (256, 256)


@dataclass(eq=False)
class LearnedKTC:
    """A calibrated tank and a trained ``ktc-unet``; :meth:`segment` labels a data change.

    Attributes
    ----------
    inputs : LevelInputs
        The calibrated tank's reconstruction operators.
    model : KTCUNet
        The network, in evaluation mode.
    """

    inputs: LevelInputs
    model: object

    @classmethod
    def from_reference(cls, reference, weights: str | Path | None = None) -> LearnedKTC:
        """Calibrate to a complete (level-1) reference Measurement and load ``weights`` (default :data:`WEIGHTS`)."""
        from femeit.learn.ktc_training import load

        model = load(WEIGHTS if weights is None else weights)
        return cls(LevelInputs.from_reference(reference), model)

    def segment(self, dv: np.ndarray, level: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Labels of data changes: 0 water, 1 resistive, 2 conductive.

        Parameters
        ----------
        dv : ndarray, shape (2356,) or (n, 2356)
            Target minus reference voltages, V; NaN only on rows outside ``mask``.
        level : int
            1..7 (the reconstruction's strength and the network's level channel).
        mask : ndarray of bool, shape (2356,), optional
            Usable rows (default: the level's removed electrodes dropped); a
            measured level's mask is :attr:`femeit.ktc2023.Level.mask`.

        Returns
        -------
        ndarray of int64, shape (256, 256) (or (n, 256, 256) for 2D ``dv``)
            Row 0 at the top (+y), as the challenge's ground truth.
        """
        import torch

        from femeit.learn.ktc_training import circle_mask
        from femeit.learn.ktc_unet import upsample_labels

        single = np.ndim(dv) == 1
        x = torch.from_numpy(self.inputs.inputs(dv, level, mask))
        with torch.no_grad():
            labels = upsample_labels(self.model(x), IMAGE_SHAPE).numpy()
        labels[:, ~circle_mask(IMAGE_SHAPE)] = 0
        return labels[0] if single else labels

    def segment_target(self, target, level) -> np.ndarray:
        """Labels (256, 256) of a measured target at a level.

        Parameters
        ----------
        target : Measurement
            The target's readings (NaN on the level's removed rows).
        level : Level
            The level (its reference and its mask; :func:`femeit.ktc2023.load_level`).
        """
        if not isinstance(level.level, (int, np.integer)) or level.level not in range(1, 8):
            raise FemeitError(f"{target.source}: level must be 1..7, got {level.level!r}")
        dv = np.asarray(target.voltages, float) - np.asarray(level.reference.voltages, float)
        outside = ~np.isfinite(dv) & ~level.mask
        dv = np.where(outside, 0.0, dv)
        try:
            return self.segment(dv, int(level.level), level.mask)
        except FemeitError as exc:
            raise FemeitError(f"{target.source}: {exc}") from None


def score_split(
    dataset, model, inputs: LevelInputs, split: str = "test", limit: int | None = None
) -> dict[int, tuple[float, float]]:
    """Challenge scores of ``model`` on a dataset split at every level (the stored noisy readings).

    Parameters
    ----------
    dataset : str, Path or femeit.datasets.Dataset
    model : KTCUNet
    inputs : LevelInputs
    split : str
        ``train``, ``validation``, ``test`` or ``heldout``.
    limit : int, optional
        Score only the first ``limit`` samples of the split.

    Returns
    -------
    dict
        Level -> (mean learned score, mean all-water score) over the samples, each scored at
        256 x 256 with :func:`femeit.ktc2023.ktc_score` against its phantom's class map.
    """
    from femeit.datasets import SPLITS
    from femeit.ktc2023 import ktc_score
    from femeit.learn.ktc_training import LEVELS, class_maps, read_dataset

    ds, ref, _ = read_dataset(dataset)
    if split not in SPLITS:
        raise FemeitError(f"split must be one of {SPLITS}, got {split!r}")
    idx = np.flatnonzero(np.asarray(ds.split[:]) == SPLITS.index(split))[:limit]
    if not len(idx):
        raise FemeitError(f"the dataset's {split} split is empty")
    truths = class_maps(ds, idx, (256, 256))
    dv = np.asarray(ds.voltages.get_orthogonal_selection((idx, slice(None)))) - ref
    pipeline = LearnedKTC(inputs, model.eval())
    out = {}
    for level in LEVELS:
        labels = pipeline.segment(dv, level)
        net = [ktc_score(t, lab) for t, lab in zip(truths, labels, strict=True)]
        water = [ktc_score(t, np.zeros_like(t)) for t in truths]
        out[level] = (float(np.mean(net)), float(np.mean(water)))
    return out
