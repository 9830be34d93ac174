"""The zarr layout of a femeit dataset, and the loader :func:`open_dataset`.

A dataset is a zarr (v3) group on the local file system, readable with zarr
alone (numpy, xarray, PyTorch data loaders) and without femeit:

========================  ======================  =======================================
array                     shape                   content
========================  ======================  =======================================
``voltages``              (N, M) float64          readings, V (with noise if configured)
``voltages_clean``        (N, M) float64          noise-free readings, V
``eim``                   (N, L, L) float64       impedance-map view (adjacent protocol)
``images``                (N, H, W) float32       conductivity image, S/m, row 0 at +y
``sigma``                 (N, n_elements) float32 conductivity per forward-mesh element
``objects``               (N, K, dim + 2)         centre, radius, conductivity; NaN rows pad
``n_objects``, ``split``  (N,) int8               object count; 0 train, 1 validation,
                                                  2 test, 3 held out
``reference/voltages``    (M,)                    the homogeneous reference (stored once)
``reference/eim``         (L, L)
``image_mask``            (H, W) bool             pixels inside the sensor
``mesh/points``           (n_nodes, dim)          forward mesh (m)
``mesh/elements``         (n_elements, dim + 1)
``protocol/abmn``         (M, 4) int64            0-based (A, B, M, N) rows
``progress``              (n_chunks,) bool        chunk written (for resuming)
========================  ======================  =======================================

Group attributes: ``format`` ("femeit-dataset"), ``format_version``, ``config``
(the configuration), ``config_key`` (its canonical JSON), ``seed``,
``n_samples``, ``chunk_size``, ``split_names``, ``versions`` (femeit and its
dependencies) and ``complete``.  Arrays are chunked along the sample axis with
``chunk_size`` samples per chunk and compressed with zarr's default codec.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError

FORMAT = "femeit-dataset"
FORMAT_VERSION = 1
PER_SAMPLE = ("voltages", "voltages_clean", "eim", "images", "sigma", "objects", "n_objects", "split")


def dependency_versions() -> dict[str, str]:
    """Versions of femeit and of the libraries that shape the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("femeit", "numpy", "scipy", "scikit-fem", "gmsh", "zarr"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def create_store(path: Path, config, n_samples: int, chunk_size: int, simulator) -> object:
    """Create the group and every array (empty), or return the existing group after checking it matches."""
    import zarr

    from femeit.datasets.config import config_json

    key = config_json(config)
    if (path / "zarr.json").exists():
        group = zarr.open_group(str(path), mode="r+")
        attrs = group.attrs.asdict()
        if attrs.get("format") != FORMAT:
            raise FemeitError(f"{path} exists and is not a femeit dataset; choose another output path")
        if attrs.get("config_key") != key or attrs.get("n_samples") != n_samples:
            raise FemeitError(
                f"{path} holds a dataset made with a different configuration or sample count "
                f"({attrs.get('n_samples')} samples); choose another output path or delete it"
            )
        if attrs.get("chunk_size") != chunk_size:
            raise FemeitError(
                f"{path} was started with chunk size {attrs.get('chunk_size')}; resume with that chunk size"
            )
        if "progress" in group:
            return group
        # Killed while the arrays were being created: start again.
    group = zarr.open_group(str(path), mode="w")
    group.attrs.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": config.to_dict(),
            "config_key": key,
            "seed": config.seed,
            "n_samples": n_samples,
            "chunk_size": chunk_size,
            "split_names": ["train", "validation", "test", "heldout"],
            "versions": dependency_versions(),
            "complete": False,
        }
    )
    first = simulator.compute(0)
    for name in PER_SAMPLE:
        if name not in first:
            continue
        value = np.asarray(first[name])
        fill = np.nan if value.dtype.kind == "f" else 0
        group.create_array(
            name, shape=(n_samples, *value.shape), chunks=(chunk_size, *value.shape), dtype=value.dtype, fill_value=fill
        )
    group.create_array("reference/voltages", data=simulator.reference)
    if simulator.has_eim:
        group.create_array("reference/eim", data=simulator.protocol.to_eim(simulator.reference))
    group.create_array("image_mask", data=simulator.image_mask())
    group.create_array("mesh/points", data=np.ascontiguousarray(simulator.mesh.points))
    group.create_array("mesh/elements", data=np.ascontiguousarray(simulator.mesh.elements))
    group.create_array("protocol/abmn", data=np.asarray(simulator.protocol.abmn, dtype=np.int64))
    n_chunks = -(-n_samples // chunk_size)
    # Created last: its presence says the store is fully laid out.
    group.create_array("progress", shape=(n_chunks,), chunks=(1,), dtype=bool, fill_value=False)
    return group


def chunks_done(group) -> np.ndarray:
    """Boolean (n_chunks,) of chunks whose samples are all written."""
    return np.asarray(group["progress"][:], dtype=bool)


def write_chunk(group, chunk: int, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Write one chunk's samples, then mark the chunk done (zarr writes each chunk file atomically)."""
    stop = start + len(arrays["voltages"])
    for name, values in arrays.items():
        group[name][start:stop] = values
    group["progress"][chunk] = True


class Dataset:
    """A femeit dataset opened for reading (see the module docstring for the layout).

    Attributes are the zarr arrays (``voltages``, ``images``, ...), read lazily:
    ``ds.images[:100]`` loads 100 images.  ``ds.indices("train")`` gives the
    sample indices of a split.
    """

    def __init__(self, group):
        self.group = group
        self.attrs = group.attrs.asdict()

    def __len__(self) -> int:
        return int(self.attrs["n_samples"])

    def __getattr__(self, name: str):
        if name in PER_SAMPLE or name in ("image_mask", "progress"):
            if name not in self.group:
                raise AttributeError(f"this dataset has no {name!r} array")
            return self.group[name]
        raise AttributeError(name)

    @property
    def config(self) -> dict:
        """The configuration the dataset was made with."""
        return self.attrs["config"]

    @property
    def complete(self) -> bool:
        """True when every sample is written."""
        return bool(chunks_done(self.group).all())

    @property
    def reference(self) -> np.ndarray:
        """Homogeneous reference readings, shape (M,), V."""
        return self.group["reference/voltages"][:]

    @property
    def abmn(self) -> np.ndarray:
        return self.group["protocol/abmn"][:]

    def indices(self, split: str) -> np.ndarray:
        """Sample indices of a split: ``train``, ``validation``, ``test`` or ``heldout``."""
        names = self.attrs["split_names"]
        if split not in names:
            raise FemeitError(f"unknown split {split!r}; choose one of {names}")
        return np.flatnonzero(self.group["split"][:] == names.index(split))

    def mesh(self):
        """The forward mesh as an EITMesh-free pair (points, elements)."""
        return self.group["mesh/points"][:], self.group["mesh/elements"][:]

    def __repr__(self) -> str:
        cfg = json.dumps(self.config.get("phantom", {}))
        return f"Dataset({len(self)} samples, complete={self.complete}, phantom={cfg})"


def open_dataset(path: str | Path) -> Dataset:
    """Open a femeit dataset (a zarr directory) for reading."""
    import zarr

    path = Path(path)
    if not (path / "zarr.json").exists():
        raise FemeitError(f"{path} is not a zarr store (no zarr.json)")
    group = zarr.open_group(str(path), mode="r")
    if group.attrs.get("format") != FORMAT:
        raise FemeitError(f"{path} is a zarr store but not a femeit dataset")
    return Dataset(group)
