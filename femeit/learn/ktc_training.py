"""Training of the learned KTC2023 pipeline (``femeit learn train --network ktc-unet``).

Data: a tank dataset from ``femeit dataset generate datasets/ktc2023_tank.toml``
(all 32 electrodes' readings of every sample).  Targets: the three-class map of
each sample's phantom at the centres of 64 x 64 pixels over the tank's square
(0 water, 1 below the background conductivity, 2 above), recomputed exactly
from the phantom (a sample is a function of the seed and its index).

Levels and noise (our choice): every epoch each training sample gets a level
drawn uniformly from 1..7 and a fresh noise draw of the dataset's noise model
(``[noise] relative / floor``) on its noise-free readings; the network input is
the classical reconstruction of that level (:mod:`femeit.learn.ktc_inputs`).
The validation split uses the stored noisy readings with level
``1 + k mod 7`` for its k-th sample, fixed.  Loss: pixelwise cross-entropy
over the 64 x 64 pixels inside the tank (the network's 32 x 32 scores
upsampled bilinearly); Adam, a fixed learning rate, a fixed epoch count (no
choice is made on validation or test data; the weights of the last epoch are
kept).

A run directory holds ``run.json`` (settings, history) and ``model.pt``
(weights and what inference needs).  Seeded: the same seed, data and thread
count give the same weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from femeit.errors import FemeitError
from femeit.learn.ktc_inputs import N_CHANNELS, LevelInputs
from femeit.learn.ktc_unet import KTCUNet

LABEL_SHAPE = (64, 64)
LEVELS = tuple(range(1, 8))


@dataclass(frozen=True)
class KTCTrainConfig:
    """Training settings of ``ktc-unet``.

    Attributes
    ----------
    epochs : int
    batch_size : int
    learning_rate : float
        Adam step.
    width : int
        U-Net width (:class:`~femeit.learn.ktc_unet.KTCUNet`).
    seed : int
        Seeds the weights, the batches, the levels and the noise.
    max_train : int or None
        Use only the first ``max_train`` training samples (tests, quick runs).
    threads : int
        torch CPU threads (the float sums, hence the weights, depend on it; 1 on a shared machine).
    schedule : {"constant", "cosine"}
        Learning rate: fixed, or cosine-annealed from ``learning_rate`` to 0 over the epochs (per step).
    device : {"cpu", "cuda", "auto"}
        Where the network trains: ``auto`` takes a CUDA GPU when torch sees one.  The
        reconstruction inputs are always computed on the CPU.  Weights trained on a GPU
        are reproducible on that GPU only (its float sums differ from the CPU's).
    """

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-3
    width: int = 16
    seed: int = 0
    max_train: int | None = None
    threads: int = 1
    schedule: str = "constant"
    device: str = "cpu"


def _device(name: str) -> torch.device:
    """The torch device of ``KTCTrainConfig.device``; refuses CUDA where torch sees no GPU."""
    if name not in ("cpu", "cuda", "auto"):
        raise FemeitError(f"device must be 'cpu', 'cuda' or 'auto', got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise FemeitError("device 'cuda' asked for, but torch sees no CUDA GPU on this machine")
    return torch.device(name)


def pixel_centres(shape: tuple[int, int], radius: float) -> np.ndarray:
    """Centres of ``shape`` pixels over [-radius, radius]^2, row 0 at +y, shape (rows * cols, 2), m."""
    rows, cols = shape
    x = -radius + (np.arange(cols) + 0.5) * 2 * radius / cols
    y = radius - (np.arange(rows) + 0.5) * 2 * radius / rows
    xx, yy = np.meshgrid(x, y)
    return np.column_stack([xx.ravel(), yy.ravel()])


def class_maps(dataset, indices: np.ndarray, shape: tuple[int, int] = LABEL_SHAPE) -> np.ndarray:
    """Three-class maps of samples' phantoms at pixel centres, shape (n, rows, cols), int64.

    Parameters
    ----------
    dataset : femeit.datasets.Dataset
    indices : ndarray of int
        Sample indices.
    shape : (rows, cols)
        Pixels over the sensor's bounding square, row 0 at +y.
    """
    from femeit.datasets import PhantomSampler, config_from_dict

    config = config_from_dict(dataset.config)
    sampler = PhantomSampler(config)
    radius = float(config.sensor.get("radius", 0.0))
    if config.spec.dim != 2 or config.sensor.get("kind") != "circle":
        raise FemeitError("class maps are defined for 2D circular sensors (the KTC2023 tank)")
    pts = pixel_centres(shape, radius)
    bg = config.phantom.background
    out = np.zeros((len(indices), len(pts)), dtype=np.int64)
    for row, i in enumerate(indices):
        sigma = sampler.phantom(sampler.sample(int(i))).evaluate(pts)
        out[row, sigma < bg] = 1
        out[row, sigma > bg] = 2
    return out.reshape(len(indices), *shape)


def read_dataset(dataset):
    """A finished tank dataset, its reference readings (2356,), V, and their noise std (2356,), V.

    Raises
    ------
    FemeitError
        An incomplete dataset, one without ``[noise] relative / floor``, or another protocol than KTC2023's.
    """
    from femeit import datasets
    from femeit.noise_model import NoiseModel

    ds = datasets.open(dataset) if isinstance(dataset, (str, Path)) else dataset
    if not ds.complete:
        raise FemeitError("the dataset is incomplete; finish it with `femeit dataset generate` first")
    noise = ds.config.get("noise", {})
    if "relative" not in noise and "floor" not in noise:
        raise FemeitError("ktc-unet needs a dataset with a measured noise model ([noise] relative / floor)")
    ref = np.asarray(ds.reference)
    if ref.shape != (2356,):
        raise FemeitError(f"ktc-unet needs the KTC2023 protocol (2356 readings), the dataset has {ref.shape}")
    std = NoiseModel.from_reference(ref, relative=noise.get("relative", 0.0), floor=noise.get("floor", 0.0)).std(ref)
    return ds, ref, std


def circle_mask(shape: tuple[int, int]) -> np.ndarray:
    """Pixels of ``shape`` over the tank's bounding square whose centre lies in the tank, (rows, cols) bool."""
    c = pixel_centres(shape, 1.0)
    return (np.hypot(c[:, 0], c[:, 1]) <= 1.0).reshape(shape)


def train(
    dataset,
    run_dir: str | Path,
    config: KTCTrainConfig = KTCTrainConfig(),
    inputs: LevelInputs | None = None,
    progress: bool = True,
    levels: tuple[int, ...] = LEVELS,
) -> dict:
    """Train ``ktc-unet`` on a tank dataset's train split (module docstring).

    Parameters
    ----------
    dataset : str, Path or femeit.datasets.Dataset
        Made from a configuration like ``datasets/ktc2023_tank.toml``.
    run_dir : str or Path
        Created if needed; ``run.json`` and ``model.pt`` are written there.
    config : KTCTrainConfig
    inputs : LevelInputs, optional
        The calibrated tank's operators (default: calibrated to the packaged level-1 reference).
    progress : bool
        Print one line per epoch.
    levels : tuple of int
        Levels drawn from (default all seven).

    Returns
    -------
    dict
        History: per epoch ``epoch``, ``train_loss``, ``validation_loss`` (cross-entropy per pixel) and ``seconds``.
    """
    from femeit import ktc2023 as ktc

    device = _device(config.device)  # refused before any work is done
    ds, ref, std = read_dataset(dataset)
    split = np.asarray(ds.split[:])
    train_idx = np.flatnonzero(split == 0)
    if config.max_train is not None:
        train_idx = train_idx[: config.max_train]
    val_idx = np.flatnonzero(split == 1)
    if len(train_idx) < 2:
        raise FemeitError("the dataset's train split holds fewer than 2 samples")
    if inputs is None:
        inputs = LevelInputs.from_reference(ktc.load_level(1).reference)
    clean = np.asarray(ds.group["voltages_clean"].get_orthogonal_selection((train_idx, slice(None)))) - ref
    y_train = torch.from_numpy(class_maps(ds, train_idx))
    x_val = y_val = None
    if len(val_idx):
        noisy = np.asarray(ds.voltages.get_orthogonal_selection((val_idx, slice(None)))) - ref
        x_val = _level_inputs(inputs, noisy, np.asarray(levels)[np.arange(len(val_idx)) % len(levels)])
        y_val = torch.from_numpy(class_maps(ds, val_idx))
    inside = torch.from_numpy(circle_mask(LABEL_SHAPE)).to(device)
    y_train = y_train.to(device)
    if x_val is not None:
        x_val, y_val = x_val.to(device), y_val.to(device)

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = KTCUNet(N_CHANNELS, config.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    if config.schedule not in ("constant", "cosine"):
        raise FemeitError(f"schedule must be 'constant' or 'cosine', got {config.schedule!r}")
    steps = config.epochs * -(-len(train_idx) // config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if config.schedule == "cosine" else None
    history = {"epoch": [], "train_loss": [], "validation_loss": [], "seconds": []}
    for epoch in range(config.epochs):
        start = time.perf_counter()
        drawn = np.asarray(levels)[rng.integers(0, len(levels), len(train_idx))]
        noisy = clean + std * rng.standard_normal(clean.shape)
        x = _level_inputs(inputs, noisy, drawn).to(device)
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for b in range(0, len(x), config.batch_size):
            idx = order[b : b + config.batch_size].to(device)
            loss = _loss(model(x[idx]), y_train[idx], inside)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.item() * len(idx)
        val = float("nan")
        if x_val is not None:
            with torch.no_grad():
                model.eval()
                val = float(_loss(model(x_val), y_val, inside))
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(total / len(x))
        history["validation_loss"].append(val)
        history["seconds"].append(time.perf_counter() - start)
        save(model, run_dir, config, history, len(train_idx))  # every epoch: an interrupted run keeps its weights
        if progress:
            print(
                f"epoch {epoch + 1}/{config.epochs}: train {total / len(x):.4f}, validation {val:.4f} "
                f"({history['seconds'][-1]:.1f} s)",
                flush=True,
            )
    return history


def _level_inputs(inputs: LevelInputs, dv: np.ndarray, levels: np.ndarray) -> torch.Tensor:
    out = np.empty((len(dv), N_CHANNELS, 32, 32), dtype=np.float32)
    for level in LEVELS:
        sel = levels == level
        if sel.any():
            out[sel] = inputs.inputs(dv[sel], level)
    return torch.from_numpy(out)


def _loss(logits: torch.Tensor, labels: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    logits = torch.nn.functional.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=False)
    per_pixel = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    return per_pixel[:, inside].mean()


def save(model: KTCUNet, run_dir: str | Path, config: KTCTrainConfig, history: dict, n_train: int) -> Path:
    """Write ``model.pt`` (half-precision weights and sizes) and ``run.json``; returns the weights' path."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    path = run / "model.pt"
    torch.save({"network": "ktc-unet", "in_channels": model.in_channels, "width": model.width, "state": state}, path)
    info = {"network": "ktc-unet", "config": asdict(config), "n_train": n_train, "history": history}
    (run / "run.json").write_text(json.dumps(info, indent=1))
    return path


def load(path: str | Path) -> KTCUNet:
    """A trained ``ktc-unet`` from ``model.pt`` (or a run directory holding it), in evaluation mode."""
    p = Path(path)
    p = p / "model.pt" if p.is_dir() else p
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
        model = KTCUNet(int(blob["in_channels"]), int(blob["width"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state"].items()})
    except FileNotFoundError:
        raise FemeitError(f"{p}: no trained ktc-unet weights there") from None
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise FemeitError(f"{p}: not a ktc-unet weights file ({type(exc).__name__}: {exc})") from None
    return model.eval()
