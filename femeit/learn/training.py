"""Training, checkpoints, evaluation and inference of the CNN-EIM paper's networks.

Loss, eq. 3: ``L = L_recon + lambda_1 L_tv + lambda_2 L_l2`` with the paper's
weights lambda_1 = 500 and lambda_2 = 1e-5.  The paper does not define the
terms' normalisation; ours: ``L_recon = E ||x - f(v)||_2^2`` (eq. 2: the squared
norm summed over the 64 x 64 pixels, averaged over the batch), ``L_tv`` the
anisotropic total variation of the output averaged over pixels
(mean |dx| + mean |dy|), and ``L_l2`` the sum of squared weights.  Reported
"MSE" figures are per-pixel means, comparable across networks and image sizes.
Adam with learning rate 5e-4 and batch size 128 as in the paper; the epoch
count is an argument (the paper: 200).

A run directory holds ``run.json`` (network, normalizer, permutation, training
configuration, history), ``model.pt`` (the weights) and, while training,
``checkpoint.pt`` (weights, optimiser, random states, history), so an
interrupted ``train`` resumes at the last finished epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from femeit.errors import FemeitError
from femeit.learn.features import (
    Normalizer,
    calibrate,
    image_from_target,
    image_target,
    network_input,
    reim_permutation,
)
from femeit.learn.networks import build, count_parameters


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults: the paper's, except the epoch count)."""

    network: str = "cnn-eim"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 5e-4
    tv_weight: float = 500.0
    l2_weight: float = 1e-5
    seed: int = 0
    permutation_seed: int = 0


@dataclass
class Prepared:
    """Network inputs and targets of every split, and what is needed to rebuild them."""

    kind: str
    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    normalizer: Normalizer
    permutation: np.ndarray | None
    unique_rows: np.ndarray
    background: float
    meta: dict = field(default_factory=dict)


def _unique_rows(abmn: np.ndarray, n_electrodes: int) -> np.ndarray:
    from femeit.protocol import Protocol

    return Protocol.from_abmn(abmn, n_electrodes).reciprocal_unique_rows()


def prepare(dataset, network: str, permutation_seed: int = 0, normalizer: Normalizer | None = None) -> Prepared:
    """Calibrate, normalise (fitted on ``train``) and arrange a dataset for one network.

    Parameters
    ----------
    dataset : str, Path or femeit.datasets.Dataset
        A dataset made with the adjacent protocol (it has the ``eim`` array).
    network : {"cnn-eim", "cnn-reim", "fcnn-eiv"}
    permutation_seed : int
        Seed of CNN-REIM's fixed permutation.
    normalizer : Normalizer, optional
        Use this (a trained run's) instead of fitting one on the train split.
    """
    from femeit import datasets

    ds = datasets.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    if "eim" not in ds.group:
        raise FemeitError("the dataset has no impedance maps (it needs the adjacent protocol)")
    if not ds.complete:
        raise FemeitError("the dataset is incomplete; finish it with `femeit dataset generate` first")
    kind, _ = build(network)
    if tuple(ds.images.shape[1:]) != (64, 64) or tuple(ds.group["reference/eim"].shape) != (16, 16):
        raise FemeitError(
            f"the networks map 16 x 16 impedance maps to 64 x 64 images; this dataset has "
            f"{ds.group['reference/eim'].shape} maps and {ds.images.shape[1:]} images "
            "(set image.shape = [64, 64] and a 16-electrode sensor in its config)"
        )
    try:
        split = ds.split[:]
        eim_ref = ds.group["reference/eim"][:]
        eim, voltages, reference, abmn = ds.eim[:], ds.voltages[:], ds.reference, ds.abmn
    except Exception as exc:  # a damaged chunk: zarr/numcodecs raise many types
        raise FemeitError(
            f"the dataset cannot be read ({type(exc).__name__}: {exc}); check it with `femeit dataset verify` "
            "and mend it with `femeit dataset generate --repair`"
        ) from None
    calibrated_eim = calibrate(eim, eim_ref)
    unique = _unique_rows(abmn, eim_ref.shape[0])
    calibrated_eiv = calibrate(voltages[:, unique], reference[unique])
    train = split == 0
    if train.sum() < 2:
        raise FemeitError("the dataset's train split holds fewer than 2 samples")
    data = calibrated_eiv if kind == "eiv" else calibrated_eim
    normalizer = Normalizer.fit(data[train]) if normalizer is None else normalizer
    normalised = normalizer(data).astype(np.float32)
    permutation = reim_permutation(calibrated_eim[0].size, permutation_seed) if kind == "reim" else None
    if kind == "eiv":
        x = network_input(kind, None, normalised, None)
    else:
        x = network_input(kind, normalised, None, permutation)
    background = float(ds.config["phantom"]["background"])
    y = image_target(ds.images[:], background)[:, None]
    names = ds.attrs["split_names"]
    inputs = {name: x[split == k] for k, name in enumerate(names)}
    targets = {name: y[split == k] for k, name in enumerate(names)}
    return Prepared(kind, inputs, targets, normalizer, permutation, unique, background)


def loss_terms(model: torch.nn.Module, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three terms of CNN-EIM eq. 3 (see the module docstring for their normalisation)."""
    recon = ((pred - target) ** 2).sum(dim=(1, 2, 3)).mean()
    tv = (pred[..., 1:, :] - pred[..., :-1, :]).abs().mean() + (pred[..., :, 1:] - pred[..., :, :-1]).abs().mean()
    l2 = sum((p**2).sum() for name, p in model.named_parameters() if name.endswith("weight"))
    return {"recon": recon, "tv": tv, "l2": l2}


def _seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Network outputs for inputs (n, ...) in evaluation mode, shape (n, 1, 64, 64)."""
    model.eval()
    out = [model(torch.from_numpy(inputs[i : i + batch_size])).numpy() for i in range(0, len(inputs), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 1, 64, 64), dtype=np.float32)


def mse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Per-pixel mean squared error, over the pixels where ``mask`` (image-shaped, bool) is True if given."""
    if not len(pred):
        return float("nan")
    err = (np.asarray(pred) - np.asarray(target)) ** 2
    if mask is None:
        return float(np.mean(err))
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != err.shape[-mask.ndim :] or not mask.any():
        raise FemeitError(f"the mask must be a non-empty boolean image of shape {err.shape[-2:]}, got {mask.shape}")
    return float(np.mean(err[..., mask]))


def train(dataset, run_dir: str | Path, config: TrainConfig = TrainConfig(), progress: bool = True) -> dict:
    """Train one network on a dataset's train split; resumes from ``run_dir/checkpoint.pt``.

    Returns
    -------
    dict
        The history: per epoch the training loss terms and the MSE on the
        validation, test and held-out splits, and the wall time.
    """
    from tqdm import tqdm

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.epochs < 1 or config.batch_size < 1:
        raise FemeitError("epochs and batch_size must be positive")
    data = prepare(dataset, config.network, config.permutation_seed)
    generator = _seed_everything(config.seed)
    _, model = build(config.network)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    history: dict = {"epoch": [], "loss": [], "recon": [], "tv": [], "l2": [], "seconds": []}
    for split in ("validation", "test", "heldout"):
        history[f"mse_{split}"] = []
    history["mse_train"] = []
    checkpoint = run_dir / "checkpoint.pt"
    start_epoch = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        # The epoch count may change between calls (train further, or stop
        # sooner): no schedule depends on it.  Every other setting must match.
        saved = {k: v for k, v in state["config"].items() if k != "epochs"}
        if saved != {k: v for k, v in asdict(config).items() if k != "epochs"}:
            raise FemeitError(f"{run_dir} holds a run with other settings; choose another run directory")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, start_epoch = state["history"], state["epoch"]
    x = torch.from_numpy(data.inputs["train"])
    y = torch.from_numpy(data.targets["train"])
    if start_epoch > config.epochs:
        raise FemeitError(
            f"{run_dir} has already trained {start_epoch} epochs, more than the {config.epochs} asked for"
        )
    bar = tqdm(range(start_epoch, config.epochs), disable=not progress, unit="epoch", desc=config.network)
    for epoch in bar:
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(x), generator=generator)
        sums = {"loss": 0.0, "recon": 0.0, "tv": 0.0, "l2": 0.0}
        for i in range(0, len(x), config.batch_size):
            idx = order[i : i + config.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            terms = loss_terms(model, model(x[idx]), y[idx])
            loss = terms["recon"] + config.tv_weight * terms["tv"] + config.l2_weight * terms["l2"]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            for key, value in (("loss", loss), *terms.items()):
                sums[key] += float(value.detach()) * len(idx)
        for key, value in sums.items():
            history[key].append(value / len(x))
        history["epoch"].append(epoch + 1)
        history["seconds"].append(time.perf_counter() - started)
        for split in ("train", "validation", "test", "heldout"):
            history[f"mse_{split}"].append(mse(predict(model, data.inputs[split]), data.targets[split]))
        bar.set_postfix(loss=f"{history['loss'][-1]:.3g}", test=f"{history['mse_test'][-1]:.4f}")
        torch.save(
            {
                "config": asdict(config),
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "epoch": epoch + 1,
            },
            checkpoint.with_suffix(".tmp"),
        )
        checkpoint.with_suffix(".tmp").replace(checkpoint)  # atomic: a kill never leaves half a checkpoint
    torch.save(model.state_dict(), run_dir / "model.pt")
    meta = {
        "network": config.network,
        "input": data.kind,
        "config": asdict(config),
        "parameters": count_parameters(model),
        "normalizer": {"mean": data.normalizer.mean.tolist(), "std": data.normalizer.std.tolist()},
        "permutation": None if data.permutation is None else data.permutation.tolist(),
        "unique_rows": data.unique_rows.tolist(),
        "background": data.background,
        "dataset": str(dataset) if isinstance(dataset, (str, Path)) else None,
        "history": history,
        "torch": torch.__version__,
    }
    (run_dir / "run.json").write_text(json.dumps(meta))
    return history


class Reconstructor:
    """A trained network as a solver: readings -> conductivity image.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by :func:`train`.
    """

    def __init__(self, run_dir: str | Path):
        run_dir = Path(run_dir)
        if not (run_dir / "run.json").exists() or not (run_dir / "model.pt").exists():
            raise FemeitError(f"{run_dir} is not a finished training run (run.json and model.pt missing)")
        self.meta = json.loads((run_dir / "run.json").read_text())
        self.kind, self.model = build(self.meta["network"])
        self.model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
        self.model.eval()
        norm = self.meta["normalizer"] if "normalizer" in self.meta else self.meta["normaliser"]  # runs before 0.2
        self.normalizer = Normalizer(np.asarray(norm["mean"]), np.asarray(norm["std"]))
        self.permutation = None if self.meta["permutation"] is None else np.asarray(self.meta["permutation"])
        self.unique_rows = np.asarray(self.meta["unique_rows"])
        self.background = float(self.meta["background"])

    def __call__(self, voltages: np.ndarray, reference: np.ndarray, protocol) -> np.ndarray:
        """Conductivity images, S/m, shape (n, 64, 64) (or (64, 64) for one frame).

        Parameters
        ----------
        voltages : ndarray, shape (208,) or (n, 208)
            Adjacent-protocol readings with objects.
        reference : ndarray, shape (208,)
            The background-filled sensor's readings.
        protocol : Protocol
            The adjacent protocol of the readings (for the impedance map).
        """
        v = np.atleast_2d(np.asarray(voltages, dtype=float))
        if v.shape[1] != protocol.n_rows or np.shape(reference) != (protocol.n_rows,):
            raise FemeitError(f"expected {protocol.n_rows} readings per frame and a reference of the same length")
        if self.kind == "eiv":
            x = self.normalizer(calibrate(v[:, self.unique_rows], np.asarray(reference)[self.unique_rows]))
            x = network_input("eiv", None, x.astype(np.float32), None)
        else:
            maps = calibrate(protocol.to_eim(v), protocol.to_eim(np.asarray(reference, dtype=float)))
            x = network_input(self.kind, self.normalizer(maps).astype(np.float32), None, self.permutation)
        images = image_from_target(predict(self.model, x)[:, 0], self.background)
        return images[0] if np.ndim(voltages) == 1 else images


def evaluate(run_dir: str | Path, dataset, mask: np.ndarray | None = None) -> dict:
    """Per-pixel MSE of a trained run on every split of a dataset (with the run's own normalizer).

    ``mask`` (bool, image-shaped, e.g. the pixels inside the sensing disk) restricts the mean.
    """
    rec = Reconstructor(run_dir)
    data = prepare(dataset, rec.meta["network"], rec.meta["config"]["permutation_seed"], rec.normalizer)
    return {
        split: mse(predict(rec.model, data.inputs[split]), data.targets[split], mask)
        for split in ("train", "validation", "test", "heldout")
        if len(data.targets[split])
    }
