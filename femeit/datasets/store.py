"""The zarr layout of a femeit dataset, and the loader :func:`open_dataset`.

A dataset is a zarr (v3) group on the local file system, readable with zarr
alone (numpy, xarray, PyTorch data loaders) and without femeit:

========================  ========================  =======================================
array                     shape                     content
========================  ========================  =======================================
``voltages``              (N, M) float64            readings, V (with noise if configured)
``voltages_clean``        (N, M) float64            noise-free readings, V
``eim``                   (N, L, L) float64         impedance-map view (adjacent protocol)
``images``                (N, H, W) float32         conductivity image, S/m, row 0 at +y
``volumes`` (optional)    (N, D, H, W) float32      voxels (3D), S/m, ``[image] depth`` layers
``sigma``                 (N, n_elements) float32   conductivity per forward-mesh element
``objects``               (N, K, dim + 2)           centre, radius, conductivity; NaN rows pad
``n_objects``, ``split``  (N,) int8                 object count; 0 train, 1 validation,
                                                    2 test, 3 held out
``reference/voltages``    (M,)                      the homogeneous reference (stored once)
``reference/eim``         (L, L)
``image_mask``            (H, W) bool               pixels inside the sensor
``mesh/points``           (n_nodes, dim)            forward mesh (m)
``mesh/elements``         (n_elements, dim + 1)
``protocol/abmn``         (M, 4) int64              0-based (A, B, M, N) rows (absent for
                                                    a table of current patterns)
``progress``              (n_chunks,) bool          chunk written (for resuming)
``checksums``             (N, n_arrays) uint64      digest of each sample of each array
========================  ========================  =======================================

Group attributes: ``format`` ("femeit-dataset"), ``format_version``, ``config``
(the configuration), ``config_key`` (its canonical JSON), ``seed``,
``n_samples``, ``chunk_size``, ``split_names``, ``versions`` (femeit and its
dependencies), ``complete``, ``checksum_arrays`` (the columns of ``checksums``)
and ``static_checksums`` (digests of the arrays written once; see
:mod:`femeit.datasets.integrity`).  Every array carries zarr's ``dimension_names`` (so ``xarray.open_zarr``
opens the group; see :data:`DIMENSIONS`) and the attributes ``units`` and
``description`` where they apply; the group also holds ``title``, ``source``,
``history`` and ``sensor_kind``.  Arrays are chunked along the sample axis with
``chunk_size`` samples per chunk and compressed with zarr's default codec.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from femeit.datasets.integrity import digest, sample_digests
from femeit.datasets.storedir import CREATING, FORMAT, refuse_foreign, remove_store, store_state
from femeit.errors import FemeitError

FORMAT_VERSION = 2
PER_SAMPLE = ("voltages", "voltages_clean", "eim", "images", "volumes", "sigma", "objects", "n_objects", "split")

# Dimension names (zarr v3 ``dimension_names``, what ``xarray.open_zarr`` reads)
# and units of every array; arrays sharing a dimension name share its length.
DIMENSIONS = {
    "voltages": ("sample", "reading"),
    "voltages_clean": ("sample", "reading"),
    "eim": ("sample", "drive_electrode", "read_electrode"),
    "images": ("sample", "row", "column"),
    "volumes": ("sample", "layer", "row", "column"),
    "sigma": ("sample", "element"),
    "objects": ("sample", "object", "object_field"),
    "n_objects": ("sample",),
    "split": ("sample",),
    "checksums": ("sample", "checksummed_array"),
    "progress": ("chunk",),
    "reference/voltages": ("reading",),
    "reference/eim": ("drive_electrode", "read_electrode"),
    "image_mask": ("row", "column"),
    "mesh/points": ("node", "coordinate"),
    "mesh/elements": ("element", "element_vertex"),
    "protocol/abmn": ("reading", "abmn"),
}
UNITS = {
    "voltages": "V",
    "voltages_clean": "V",
    "eim": "V",
    "images": "S/m",
    "volumes": "S/m",
    "sigma": "S/m",
    "reference/voltages": "V",
    "reference/eim": "V",
    "mesh/points": "m",
}
DESCRIPTIONS = {
    "voltages": "readings of the protocol rows, with noise if configured",
    "voltages_clean": "noise-free readings",
    "eim": "impedance-map view of the readings",
    "images": "conductivity of the phantom on the image grid, row 0 at +y",
    "volumes": "conductivity of the phantom on voxels: layer 0 at the bottom, row 0 at +y",
    "sigma": "conductivity of each forward-mesh element",
    "objects": "centre (m), radius (m) and conductivity (S/m) of each object; NaN rows pad",
    "n_objects": "number of objects",
    "split": "0 train, 1 validation, 2 test, 3 held out",
    "checksums": "digest of each sample of each array (femeit.datasets.integrity)",
    "progress": "chunk written",
}


def array_metadata(name: str, ndim: int) -> dict:
    """``dimension_names`` and ``attributes`` (units, description) for creating array ``name``."""
    dims = DIMENSIONS.get(name)
    attrs = {k: v for k, v in (("units", UNITS.get(name)), ("description", DESCRIPTIONS.get(name))) if v}
    if dims is None or len(dims) != ndim:
        dims = tuple(f"{name.replace('/', '_')}_dim_{i}" for i in range(ndim))
    return {"dimension_names": dims, "attributes": attrs}


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


def _attributes(config, key: str, n_samples: int, chunk_size: int) -> dict:
    return {
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
        # Provenance, in the CF vocabulary xarray users expect.
        "title": "femeit synthetic EIT dataset",
        "source": f"femeit {dependency_versions().get('femeit', '?')}: finite-element simulation of random phantoms",
        "history": "created by femeit.datasets.generate (femeit dataset generate)",
        "sensor_kind": config.sensor.get("kind", "mesh_file" if "file" in config.sensor else "?"),
    }


def create_store(path: Path, config, n_samples: int, chunk_size: int, simulator, *, overwrite: bool = False):
    """Create the group and every array (empty), or return the existing group after checking it matches.

    The caller holds the writer lock (:func:`femeit.datasets.storedir.writer_lock`).
    A folder that is neither empty nor a femeit store is refused; a store whose
    creation was interrupted (marker file present) is laid out again; a store
    with another configuration is replaced only with ``overwrite`` (and then only
    its own entries are deleted).
    """
    import zarr

    from femeit.datasets.config import config_json

    key = config_json(config)
    state = store_state(path)
    if state == "foreign":
        refuse_foreign(path)
    if state == "store":
        try:
            group = zarr.open_group(str(path), mode="r+")
        except Exception as exc:  # damaged metadata: zarr raises JSON, codec or key errors
            raise FemeitError(f"{path}: the store's metadata cannot be read ({type(exc).__name__}: {exc})") from None
        attrs = group.attrs.asdict()
        mismatch = None
        if attrs.get("config_key") != key or attrs.get("n_samples") != n_samples:
            mismatch = (
                f"{path} holds a dataset made with a different configuration or sample count "
                f"({attrs.get('n_samples')} samples)"
            )
        elif attrs.get("chunk_size") != chunk_size:
            mismatch = f"{path} was started with chunk size {attrs.get('chunk_size')}; resume with that chunk size"
        if mismatch and not overwrite:
            raise FemeitError(f"{mismatch}; choose another output path, or pass --overwrite to replace it")
        if not mismatch and "progress" in group:
            return group
    if state in ("store", "creating"):
        # An interrupted creation (or --overwrite): only the store's own entries go.
        remove_store(path)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / CREATING
    marker.write_text("femeit is creating this dataset; an interrupted creation is started again\n")
    group = zarr.open_group(str(path), mode="a", attributes=_attributes(config, key, n_samples, chunk_size))
    first = simulator.compute(0)
    names = []
    for name in PER_SAMPLE:
        if name not in first:
            continue
        value = np.asarray(first[name])
        fill = np.nan if value.dtype.kind == "f" else 0
        group.create_array(
            name,
            shape=(n_samples, *value.shape),
            chunks=(chunk_size, *value.shape),
            dtype=value.dtype,
            fill_value=fill,
            **array_metadata(name, value.ndim + 1),
        )
        names.append(name)
    group.create_array(
        "checksums",
        shape=(n_samples, len(names)),
        chunks=(chunk_size, len(names)),
        dtype=np.uint64,
        **array_metadata("checksums", 2),
    )
    static = {"reference/voltages": np.asarray(simulator.reference)}
    if simulator.has_eim:
        static["reference/eim"] = np.asarray(simulator.protocol.to_eim(simulator.reference))
    static["image_mask"] = np.asarray(simulator.image_mask())
    static["mesh/points"] = np.ascontiguousarray(simulator.mesh.points)
    static["mesh/elements"] = np.ascontiguousarray(simulator.mesh.elements)
    if simulator.protocol.abmn is not None:  # a protocol of current patterns (forward.patterns) has no ABMN rows
        static["protocol/abmn"] = np.asarray(simulator.protocol.abmn, dtype=np.int64)
    for name, data in static.items():
        group.create_array(name, data=data, **array_metadata(name, data.ndim))
    group.attrs.update({"checksum_arrays": names, "static_checksums": {k: str(digest(v)) for k, v in static.items()}})
    n_chunks = -(-n_samples // chunk_size)
    # Created last: its presence says the store is fully laid out.
    group.create_array(
        "progress", shape=(n_chunks,), chunks=(1,), dtype=bool, fill_value=False, **array_metadata("progress", 1)
    )
    marker.unlink()
    return group


def chunks_done(group) -> np.ndarray:
    """Boolean (n_chunks,) of chunks whose samples are all written."""
    try:
        return np.asarray(group["progress"][:], dtype=bool)
    except Exception as exc:  # a damaged progress chunk: zarr/numcodecs raise many types
        raise FemeitError(f"the store's progress record cannot be read ({type(exc).__name__}: {exc})") from None


def write_samples(group, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Write consecutive samples from ``start`` and their checksums (not the progress mark)."""
    stop = start + len(arrays["voltages"])
    names = group.attrs.get("checksum_arrays")
    sums = np.zeros((stop - start, len(names or ())), dtype=np.uint64)
    for name, values in arrays.items():
        stored = np.asarray(values, dtype=group[name].dtype)
        group[name][start:stop] = stored
        if names and name in names:
            sums[:, names.index(name)] = sample_digests(stored)
    if names:
        group["checksums"][start:stop] = sums


def write_chunk(group, chunk: int, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Write one chunk's samples and checksums, then mark the chunk done (zarr writes each chunk file atomically)."""
    write_samples(group, start, arrays)
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
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # damaged zarr.json: JSON, Unicode or key errors from zarr
        raise FemeitError(f"{path}: the store's metadata cannot be read ({type(exc).__name__}: {exc})") from None
    if group.attrs.get("format") != FORMAT:
        raise FemeitError(f"{path} is a zarr store but not a femeit dataset")
    return Dataset(group)
