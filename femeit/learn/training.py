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
from femeit.learn.networks import NETWORKS, build, count_parameters


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
    target: str = "auto"


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


def _unique_rows(group) -> np.ndarray:
    """Rows of the readings FCNN-EIV sees: one of each reciprocal pair (all rows without an ABMN table)."""
    from femeit.protocol import Protocol

    n_rows = group["reference/voltages"].shape[0]
    if "protocol/abmn" not in group:
        return np.arange(n_rows)
    abmn = np.asarray(group["protocol/abmn"][:])
    return Protocol.from_abmn(abmn, int(abmn.max()) + 1).reciprocal_unique_rows()


TARGETS = ("auto", "images", "volumes")


def _target_name(group, target: str) -> str:
    if target not in TARGETS:
        raise FemeitError(f"unknown target {target!r}; choose one of {TARGETS}")
    if target == "auto":
        target = "volumes" if "volumes" in group else "images"
    if target not in group:
        have = [name for name in ("images", "volumes") if name in group]
        raise FemeitError(f"the dataset has no {target!r} array to learn (it has {have or 'no image targets'})")
    return target


def network_sizes(dataset, network: str, target: str = "auto") -> dict:
    """The size arguments of ``network`` for a dataset (see :func:`femeit.learn.networks.build`).

    Returns
    -------
    dict
        ``map_size`` (CNNs: electrodes of the impedance map) or ``n_inputs``
        (FCNN-EIV: reciprocal-unique readings), ``out_shape`` (H, W),
        ``out_channels`` (1 for images, D for D-layer voxel volumes) and
        ``target`` (the array learned).

    Raises
    ------
    FemeitError
        A CNN asked of a dataset without impedance maps (not the adjacent
        protocol), or a dataset without image targets.
    """
    from femeit import datasets

    ds = datasets.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    kind, _ = NETWORKS[network] if network in NETWORKS else build(network)
    name = _target_name(ds.group, target)
    shape = tuple(ds.group[name].shape[1:])
    sizes = {"out_shape": list(shape[-2:]), "out_channels": 1 if name == "images" else int(shape[0]), "target": name}
    if kind == "eiv":
        sizes["n_inputs"] = len(_unique_rows(ds.group))
    else:
        if "eim" not in ds.group:
            raise FemeitError(
                f"{network} reads impedance maps, which need the adjacent protocol; this dataset has none "
                "(use fcnn-eiv, which takes any protocol, or make the dataset with protocol = 'adjacent')"
            )
        sizes["map_size"] = int(ds.group["reference/eim"].shape[0])
    return sizes


def prepare(
    dataset, network: str, permutation_seed: int = 0, normalizer: Normalizer | None = None, target: str = "auto"
) -> Prepared:
    """Calibrate, normalise (fitted on ``train``) and arrange a dataset for one network.

    Parameters
    ----------
    dataset : str, Path or femeit.datasets.Dataset
        A finished dataset; CNN-EIM and CNN-REIM need impedance maps (the
        adjacent protocol, any electrode count), FCNN-EIV takes any protocol.
    network : {"cnn-eim", "cnn-reim", "fcnn-eiv"}
    permutation_seed : int
        Seed of CNN-REIM's fixed permutation.
    normalizer : Normalizer, optional
        Use this (a trained run's) instead of fitting one on the train split;
        its shape must match the dataset's inputs.
    target : {"auto", "images", "volumes"}
        The array learned: ``auto`` takes the voxel volumes (N, D, H, W) when
        the dataset has them, else the images (N, H, W).

    Returns
    -------
    Prepared
        Inputs per split, (n, 1, L, L) maps or (n, n_inputs) vectors, float32;
        targets per split, (n, C, H, W), float32; ``meta`` holds the network sizes.
    """
    from femeit import datasets

    ds = datasets.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    if not ds.complete:
        raise FemeitError("the dataset is incomplete; finish it with `femeit dataset generate` first")
    sizes = network_sizes(ds, network, target)
    kind, _ = build(network)
    try:
        split = ds.split[:]
        voltages, reference = ds.voltages[:], ds.reference
        eim = eim_ref = None
        if kind != "eiv":
            eim, eim_ref = ds.eim[:], ds.group["reference/eim"][:]
        y = ds.group[sizes["target"]][:]
    except Exception as exc:  # a damaged chunk: zarr/numcodecs raise many types
        raise FemeitError(
            f"the dataset cannot be read ({type(exc).__name__}: {exc}); check it with `femeit dataset verify` "
            "and mend it with `femeit dataset generate --repair`"
        ) from None
    unique = _unique_rows(ds.group)
    data = calibrate(voltages[:, unique], reference[unique]) if kind == "eiv" else calibrate(eim, eim_ref)
    train = split == 0
    if train.sum() < 2:
        raise FemeitError("the dataset's train split holds fewer than 2 samples")
    if normalizer is None:
        normalizer = Normalizer.fit(data[train])
    elif np.shape(normalizer.mean) != data.shape[1:]:
        raise FemeitError(
            f"the trained network reads inputs of shape {np.shape(normalizer.mean)}, this dataset gives "
            f"{data.shape[1:]} (another electrode count or protocol)"
        )
    normalised = normalizer(data).astype(np.float32)
    permutation = reim_permutation(data[0].size, permutation_seed) if kind == "reim" else None
    if kind == "eiv":
        x = network_input(kind, None, normalised, None)
    else:
        x = network_input(kind, normalised, None, permutation)
    background = float(ds.config["phantom"]["background"])
    y = image_target(y, background)
    y = y[:, None] if sizes["target"] == "images" else y
    names = ds.attrs["split_names"]
    inputs = {name: x[split == k] for k, name in enumerate(names)}
    targets = {name: y[split == k] for k, name in enumerate(names)}
    return Prepared(kind, inputs, targets, normalizer, permutation, unique, background, meta={"sizes": sizes})


def _network_arguments(sizes: dict) -> dict:
    return {k: (tuple(v) if k == "out_shape" else v) for k, v in sizes.items() if k != "target"}


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
    """Network outputs for inputs (n, ...) in evaluation mode, shape (n, C, H, W)."""
    model.eval()
    out = [model(torch.from_numpy(inputs[i : i + batch_size])).numpy() for i in range(0, len(inputs), batch_size)]
    if out:
        return np.concatenate(out)
    return np.zeros((0, model.out_channels, *model.out_shape), dtype=np.float32)


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
    data = prepare(dataset, config.network, config.permutation_seed, target=config.target)
    generator = _seed_everything(config.seed)
    _, model = build(config.network, **_network_arguments(data.meta["sizes"]))
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
        saved = {k: v for k, v in {**asdict(TrainConfig()), **state["config"]}.items() if k != "epochs"}
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
        "sizes": data.meta["sizes"],
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
        # Runs before the networks were sized from the data hold the printed sizes.
        sizes = self.meta.get("sizes", {"out_shape": [64, 64], "out_channels": 1, "target": "images"})
        self.sizes = sizes
        self.kind, self.model = build(self.meta["network"], **_network_arguments(sizes))
        self.model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
        self.model.eval()
        norm = self.meta["normalizer"] if "normalizer" in self.meta else self.meta["normaliser"]  # runs before 0.2
        self.normalizer = Normalizer(np.asarray(norm["mean"]), np.asarray(norm["std"]))
        self.permutation = None if self.meta["permutation"] is None else np.asarray(self.meta["permutation"])
        self.unique_rows = np.asarray(self.meta["unique_rows"])
        self.background = float(self.meta["background"])

    def __call__(self, voltages: np.ndarray, reference: np.ndarray, protocol) -> np.ndarray:
        """Conductivity images, S/m: shape (n, H, W), or (n, D, H, W) for a volume network; no n for one frame.

        Parameters
        ----------
        voltages : ndarray, shape (M,) or (n, M)
            Readings with objects, in the training protocol's row order.
        reference : ndarray, shape (M,)
            The background-filled sensor's readings.
        protocol : Protocol
            The readings' protocol (adjacent for the CNNs, for the impedance map).
        """
        v = np.atleast_2d(np.asarray(voltages, dtype=float))
        if v.shape[1] != protocol.n_rows or np.shape(reference) != (protocol.n_rows,):
            raise FemeitError(f"expected {protocol.n_rows} readings per frame and a reference of the same length")
        if self.kind == "eiv":
            if self.unique_rows.max() >= protocol.n_rows or len(self.unique_rows) != self.model.n_inputs:
                raise FemeitError(
                    f"the network was trained on {self.model.n_inputs} of a protocol's readings; this protocol "
                    f"has {protocol.n_rows} rows"
                )
            x = self.normalizer(calibrate(v[:, self.unique_rows], np.asarray(reference)[self.unique_rows]))
            x = network_input("eiv", None, x.astype(np.float32), None)
        else:
            if protocol.n_electrodes != self.model.map_size:
                raise FemeitError(
                    f"the network reads {self.model.map_size}-electrode impedance maps; this protocol has "
                    f"{protocol.n_electrodes} electrodes"
                )
            maps = calibrate(protocol.to_eim(v), protocol.to_eim(np.asarray(reference, dtype=float)))
            x = network_input(self.kind, self.normalizer(maps).astype(np.float32), None, self.permutation)
        images = image_from_target(predict(self.model, x), self.background)
        images = images[:, 0] if self.sizes["target"] == "images" else images
        return images[0] if np.ndim(voltages) == 1 else images


def evaluate(run_dir: str | Path, dataset, mask: np.ndarray | None = None) -> dict:
    """Per-pixel MSE of a trained run on every split of a dataset (with the run's own normalizer).

    ``mask`` (bool, image-shaped, e.g. the pixels inside the sensing disk) restricts the mean.
    """
    rec = Reconstructor(run_dir)
    data = prepare(
        dataset, rec.meta["network"], rec.meta["config"]["permutation_seed"], rec.normalizer, rec.sizes["target"]
    )
    trained = {k: v for k, v in rec.sizes.items() if k != "target"}
    found = {k: v for k, v in data.meta["sizes"].items() if k != "target"}
    if trained != found:
        raise FemeitError(f"the network was trained for {trained}; this dataset needs {found}")
    return {
        split: mse(predict(rec.model, data.inputs[split]), data.targets[split], mask)
        for split in ("train", "validation", "test", "heldout")
        if len(data.targets[split])
    }
