"""The declarative dataset configuration (TOML), checked before anything runs.

A configuration names the sensor (an inline geometry spec), the forward model,
the phantom distribution, the noise, the image and the split.  Every key is
checked at load time: an unknown key, a radius that cannot fit, more objects
than fit in the domain or a bad range fails at once with a message naming the
key (``phantom.radius``), never after an hour of simulation.

Example (``datasets/cnn_eim.toml`` holds the CNN-EIM set-up)::

    seed = 2024

    [sensor]                      # a geometry spec, as in geometries/*.toml
    kind = "circle"
    radius = 1.0
    n_electrodes = 16
    electrode_width = 0.1
    h = 0.045

    [forward]
    protocol = "adjacent"         # a name of Protocol.by_name (multi-ring ones use the sensor's rings)
    contact_impedance = 0.01      # ohm m (2D) or ohm m^2 (3D)
    # exact_readings = false      # PARDISO's readings without their extended-precision correction
                                  # (ForwardModel(exact_readings=...); default true)

    [phantom]
    shape = "circle"              # circle or mixed (2D: circles, polygons, blobs; datasets.outlines);
                                  # sphere or cylinder (3D, vertical rods)
    background = 0.05             # S/m
    conductivity = 1e-4           # S/m, or [low, high] drawn log-uniformly
    radius = [0.1, 0.3]           # m, drawn uniformly
    margin = 0.05                 # minimum distance from the wall, m
    min_gap = 0.02                # minimum gap between objects, m
    n_objects = [1, 4]            # inclusive range, drawn uniformly, or:
    # counts = {1 = 5261, 2 = 7771, 3 = 7997, 4 = 8482}   (fixes the sample count)
    # both_signs = true           # each object, with probability 1/2, background^2 / conductivity

    [noise]
    snr_db = 40                   # optional; or the noise model of a measured reference:
    # relative = 0.01             # std_i = sqrt((relative V_i)^2 + (floor mean|V|)^2) on the
    # floor = 0.01                # homogeneous reference V (NoiseModel.from_reference)

    [image]
    shape = [64, 64]              # rows, columns over the sensor's bounding box
    # z = 0.1                     # 3D: height of the slice image (default mid-height)
    # depth = 16                  # 3D: also store voxel volumes of depth x rows x columns

    [split]
    holdout = [3]                 # object counts kept out of train/validation/test
    validation = 0.14             # fractions of the remaining samples
    test = 0.14
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from femeit._checks import finite_number
from femeit.datasets.region import KINDS as REGION_KINDS
from femeit.datasets.region import SensorRegion
from femeit.datasets.sensor_file import is_mesh_file_table, sensor_from_table
from femeit.errors import FemeitError
from femeit.geometry import spec_from_dict, spec_to_dict
from femeit.geometry.spec_io import read_toml
from femeit.protocol import ALL_PROTOCOL_NAMES, Protocol

SHAPES_2D = ("circle", "mixed")
SHAPES_3D = ("sphere", "cylinder")
# Random sequential addition of equal disks jams at a covered fraction of about
# 0.547 (spheres: 0.38); a request above these cannot be met by rejection sampling.
JAMMING = {2: 0.547, 3: 0.38}


def _error(key: str, message: str) -> FemeitError:
    return FemeitError(f"dataset config: {key}: {message}")


def _number(key: str, value: Any, *, positive: bool = False, non_negative: bool = False) -> float:
    return finite_number(f"dataset config: {key}", value, positive=positive, non_negative=non_negative)


def _range(key: str, value: Any, *, positive: bool = True) -> tuple[float, float]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise _error(key, f"a range must be [low, high], got {value!r}")
        low, high = (_number(key, v, positive=positive) for v in value)
        if low > high:
            raise _error(key, f"low must not exceed high, got {value!r}")
        return low, high
    v = _number(key, value, positive=positive)
    return v, v


def _keys(section: str, table: dict, allowed: set[str]) -> None:
    if not isinstance(table, dict):
        raise _error(section, f"must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        names = ", ".join(f"{section}.{k}" if section else k for k in unknown)
        raise _error(names, f"unknown key (allowed: {', '.join(sorted(allowed))})")


@dataclass(frozen=True)
class PhantomConfig:
    """Distribution of random inclusions (see the module docstring for the keys)."""

    shape: str
    background: float
    conductivity: tuple[float, float]
    radius: tuple[float, float]
    margin: float = 0.0
    min_gap: float = 0.0
    overlap: bool = False
    n_objects: tuple[int, int] = (1, 1)
    counts: dict[int, int] | None = None
    both_signs: bool = False


@dataclass(frozen=True)
class DatasetConfig:
    """A checked dataset configuration; build with :func:`load_config` or :func:`config_from_dict`."""

    seed: int
    sensor: dict
    protocol: str
    contact_impedance: float
    order: int
    fraction_level: int
    phantom: PhantomConfig
    snr_db: float | None
    image_shape: tuple[int, int]
    image_z: float | None
    holdout: tuple[int, ...]
    validation: float
    test: float
    n_samples: int | None = None
    image_depth: int | None = None
    protocol_table: dict | None = None
    noise_relative: float | None = None
    noise_floor: float | None = None
    exact_readings: bool = True
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def spec(self):
        """The sensor's geometry spec (a :class:`~femeit.datasets.sensor_file.MeshFileSensor` for a mesh file)."""
        if is_mesh_file_table(self.sensor):
            return sensor_from_table(self.sensor)
        return spec_from_dict(self.sensor)

    def protocol_object(self, n_electrodes: int, rings=None) -> Protocol:
        """The measurement protocol: the named one, or the configuration's own table."""
        if self.protocol_table is not None:
            table = self.protocol_table
            if "abmn" in table:
                return Protocol.from_abmn(np.asarray(table["abmn"]), n_electrodes)
            return Protocol(n_electrodes, table["injections"], table["row_injection"], table["measurements"])
        return Protocol.by_name(self.protocol, n_electrodes, rings=rings)

    def to_dict(self) -> dict:
        """The configuration as plain JSON-able data (stored with the dataset)."""
        return json.loads(json.dumps(self.raw))

    def total_samples(self) -> int | None:
        """Samples fixed by ``phantom.counts`` or ``n_samples`` (None if neither)."""
        if self.phantom.counts:
            return sum(self.phantom.counts.values())
        return self.n_samples


def load_config(path: str | Path) -> DatasetConfig:
    """Read and check a dataset configuration from a TOML file.

    Files it names (``sensor.file``, ``forward.protocol_file``) are resolved
    relative to the TOML's folder.
    """
    return config_from_dict(read_toml(path, "dataset config"), base=Path(path).resolve().parent)


def config_from_dict(data: dict, base: str | Path | None = None) -> DatasetConfig:
    """Check a configuration given as a dictionary (the parsed TOML).

    Parameters
    ----------
    data : dict
        The sections of the configuration.
    base : str or Path, optional
        Folder for relative file names in ``sensor.file`` and
        ``forward.protocol_file`` (default: the working directory).

    Notes
    -----
    A protocol table (``forward.protocol_file``, ``forward.abmn`` or
    ``forward.patterns``) is read once and embedded in the checked
    configuration, so the dataset and its Dask workers never need the file.
    A mesh file is recorded by absolute path and SHA-256.
    """
    if not isinstance(data, dict):
        raise FemeitError(f"a dataset config must be a table of sections, got {type(data).__name__}")
    _keys("", data, {"seed", "n_samples", "sensor", "forward", "phantom", "noise", "image", "split"})
    for section in ("sensor", "phantom"):
        if section not in data:
            raise _error(section, "missing section")
    for section in ("sensor", "forward", "phantom", "noise", "image", "split"):
        if section in data and not isinstance(data[section], dict):
            raise _error(section, f"must be a table ([{section}] in TOML), got {data[section]!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _error("seed", f"must be a non-negative integer, got {seed!r}")
    n_samples = data.get("n_samples")
    if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1):
        raise _error("n_samples", f"must be a positive integer, got {n_samples!r}")

    if is_mesh_file_table(data["sensor"]):
        spec = sensor_from_table(dict(data["sensor"]), base)
        sensor = spec.to_dict()
    else:
        try:
            spec = spec_from_dict(dict(data["sensor"]))
        except FemeitError as exc:
            raise _error("sensor", str(exc)) from None
        sensor = spec_to_dict(spec)
    kind = spec.kind
    if kind not in REGION_KINDS:
        raise _error("sensor.kind", f"datasets support {', '.join(REGION_KINDS)} sensors, got {kind!r}")
    dim = spec.dim

    forward = dict(data.get("forward", {}))
    _keys(
        "forward",
        forward,
        {
            "protocol",
            "protocol_file",
            "abmn",
            "patterns",
            "contact_impedance",
            "order",
            "fraction_level",
            "exact_readings",
        },
    )
    protocol, protocol_table, forward = _protocol(forward, spec, base)
    contact = _number("forward.contact_impedance", forward.get("contact_impedance", 0.01), positive=True)
    order = forward.get("order", 1)
    if order not in (1, 2):
        raise _error("forward.order", f"must be 1 or 2, got {order!r}")
    exact_readings = forward.get("exact_readings", True)
    if not isinstance(exact_readings, bool):  # "false" or 0 would be taken as a request silently
        raise _error("forward.exact_readings", f"must be true or false, got {exact_readings!r}")
    level = forward.get("fraction_level", 2)
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 4:
        raise _error("forward.fraction_level", f"must be an integer in 0..4, got {level!r}")

    phantom = _phantom(data["phantom"], spec, dim)

    noise = data.get("noise", {})
    _keys("noise", noise, {"snr_db", "relative", "floor"})
    snr_db = _number("noise.snr_db", noise["snr_db"]) if "snr_db" in noise else None
    relative = floor = None
    if "relative" in noise or "floor" in noise:
        if snr_db is not None:
            raise _error("noise", "give either noise.snr_db or noise.relative / noise.floor, not both")
        relative = _number("noise.relative", noise.get("relative", 0.0), non_negative=True)
        floor = _number("noise.floor", noise.get("floor", 0.0), non_negative=True)
        if relative == 0 and floor == 0:
            raise _error("noise", "noise.relative and noise.floor cannot both be zero")

    image = data.get("image", {})
    _keys("image", image, {"shape", "z", "depth"})
    shape = image.get("shape", [64, 64])
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v > 0 for v in shape)):
        raise _error("image.shape", f"must be [rows, columns] of positive integers, got {shape!r}")
    z = image.get("z")
    if dim == 3:
        z = spec.height / 2 if z is None else _number("image.z", z)
        if not 0 <= z <= spec.height:
            raise _error("image.z", f"must lie in [0, {spec.height}] (the tank height), got {z}")
    elif z is not None:
        raise _error("image.z", "only a 3D sensor has a slice height")
    depth = image.get("depth")
    if depth is not None:
        if dim != 3:
            raise _error("image.depth", "only a 3D sensor has voxel volumes")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise _error("image.depth", f"must be a positive integer (voxel layers), got {depth!r}")

    split = data.get("split", {})
    _keys("split", split, {"holdout", "validation", "test"})
    holdout = split.get("holdout", [])
    if not (isinstance(holdout, list) and all(isinstance(v, int) and v >= 1 for v in holdout)):
        raise _error("split.holdout", f"must be a list of object counts, got {holdout!r}")
    fractions = [_number(f"split.{k}", split.get(k, 0.0), non_negative=True) for k in ("validation", "test")]
    if sum(fractions) >= 1:
        raise _error("split", f"validation + test fractions must be below 1, got {sum(fractions)}")
    if n_samples is not None and phantom.counts:
        raise _error("n_samples", "give either n_samples or phantom.counts, not both")
    drawn = set(phantom.counts) if phantom.counts else set(range(phantom.n_objects[0], phantom.n_objects[1] + 1))
    never = sorted(set(holdout) - drawn)
    if never:
        raise _error(
            "split.holdout",
            f"object counts {never} are never drawn (the phantom draws {sorted(drawn)}), so nothing would be held out",
        )
    if spec.inclusions:
        raise _error(
            "sensor.inclusions",
            "a dataset's inclusions are drawn at random by [phantom]; fixed sensor inclusions would be ignored: "
            "remove them",
        )

    return DatasetConfig(
        seed=seed,
        sensor=sensor,
        protocol=protocol,
        contact_impedance=contact,
        order=order,
        fraction_level=level,
        phantom=phantom,
        snr_db=snr_db,
        image_shape=(shape[0], shape[1]),
        image_z=z,
        holdout=tuple(holdout),
        validation=fractions[0],
        test=fractions[1],
        n_samples=n_samples,
        image_depth=depth,
        protocol_table=protocol_table,
        noise_relative=relative,
        noise_floor=floor,
        exact_readings=exact_readings,
        raw=json.loads(json.dumps(data | {"sensor": sensor, "forward": forward})),
    )


def _protocol(forward: dict, spec, base) -> tuple[str, dict | None, dict]:
    """The protocol name, the embedded table (or None) and the forward section to record."""
    given = [k for k in ("protocol_file", "abmn", "patterns") if k in forward]
    if len(given) > 1 or (given and "protocol" in forward and forward["protocol"] != "table"):
        keys = ", ".join(f"forward.{k}" for k in (["protocol"] if "protocol" in forward else []) + given)
        raise _error(keys, "give one protocol: a name, a protocol_file, an abmn table or patterns")
    rings = [r.n_electrodes for r in getattr(spec, "rings", ())] or None
    n = spec.n_electrodes
    if not given:
        protocol = forward.get("protocol", "adjacent")
        if protocol not in ALL_PROTOCOL_NAMES:
            raise _error(
                "forward.protocol",
                f"must be one of {', '.join(ALL_PROTOCOL_NAMES)} (or a table: protocol_file, abmn, patterns), "
                f"got {protocol!r}",
            )
        try:  # fail at load time, not in a worker, when the sensor's electrodes do not fit the protocol
            Protocol.by_name(protocol, n, rings=rings)
        except FemeitError as exc:
            raise _error("forward.protocol", str(exc)) from None
        return protocol, None, forward
    key = given[0]
    try:
        if key == "protocol_file":
            name = forward.pop("protocol_file")
            if not isinstance(name, str) or not name:
                raise FemeitError(f"must be the path of a CSV or NPZ protocol file, got {name!r}")
            path = Path(name).expanduser()
            path = path if path.is_absolute() or base is None else Path(base) / path
            proto = Protocol.from_file(path, n)
        elif key == "abmn":
            proto = Protocol.from_abmn(np.asarray(forward["abmn"]), n)
        else:
            table = forward["patterns"]
            _keys("forward.patterns", table, {"injections", "row_injection", "measurements"})
            proto = Protocol(n, table["injections"], table["row_injection"], table["measurements"])
    except FemeitError as exc:
        raise _error(f"forward.{key}", str(exc)) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _error(f"forward.{key}", f"not a valid protocol table ({type(exc).__name__}: {exc})") from None
    for k in ("abmn", "patterns"):
        forward.pop(k, None)
    if proto.abmn is not None:
        table = {"abmn": proto.abmn.astype(int).tolist()}
    else:
        table = {
            "injections": proto.injections.tolist(),
            "row_injection": proto.row_injection.astype(int).tolist(),
            "measurements": proto.measurements.tolist(),
        }
    forward["protocol"] = "table"
    forward.update(table if "abmn" in table else {"patterns": table})
    return "table", table, forward


def _phantom(table: dict, spec, dim: int) -> PhantomConfig:
    allowed = {
        "shape",
        "background",
        "conductivity",
        "radius",
        "margin",
        "min_gap",
        "overlap",
        "n_objects",
        "counts",
        "both_signs",
    }
    _keys("phantom", table, allowed)
    shape = table.get("shape", "circle" if dim == 2 else "sphere")
    valid = SHAPES_2D if dim == 2 else SHAPES_3D
    if shape not in valid:
        raise _error("phantom.shape", f"a {dim}D sensor takes {' or '.join(valid)}, got {shape!r}")
    for key in ("background", "conductivity", "radius"):
        if key not in table:
            raise _error(f"phantom.{key}", "missing")
    background = _number("phantom.background", table["background"], positive=True)
    conductivity = _range("phantom.conductivity", table["conductivity"])
    radius = _range("phantom.radius", table["radius"])
    margin = _number("phantom.margin", table.get("margin", 0.0), non_negative=True)
    min_gap = _number("phantom.min_gap", table.get("min_gap", 0.0), non_negative=True)
    overlap = table.get("overlap", False)
    if not isinstance(overlap, bool):
        raise _error("phantom.overlap", f"must be true or false, got {overlap!r}")
    both_signs = table.get("both_signs", False)
    if not isinstance(both_signs, bool):
        raise _error("phantom.both_signs", f"must be true or false, got {both_signs!r}")

    counts = table.get("counts")
    if counts is not None and "n_objects" in table:
        raise _error("phantom.counts", "give either phantom.n_objects or phantom.counts, not both")
    if counts is not None:
        _keys("phantom.counts", counts, {str(k) for k in range(1, 101)})
        parsed = {}
        for k, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise _error(f"phantom.counts.{k}", f"must be a non-negative integer, got {v!r}")
            parsed[int(k)] = v
        if sum(parsed.values()) == 0:
            raise _error("phantom.counts", "holds no samples")
        counts = dict(sorted(parsed.items()))
        n_range = (min(counts), max(counts))
        range_key = "phantom.counts"
    else:
        raw = table.get("n_objects", [1, 1])
        raw = [raw, raw] if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, int) and v >= 0 for v in raw)):
            raise _error("phantom.n_objects", f"must be a count or [low, high] counts, got {raw!r}")
        if raw[0] > raw[1]:
            raise _error("phantom.n_objects", f"low must not exceed high, got {raw!r}")
        n_range = (raw[0], raw[1])
        range_key = "phantom.n_objects"

    # Geometry: the largest object must fit inside the wall margin, and the
    # largest count of the smallest objects must not exceed the jamming limit.
    fit = SensorRegion(spec).fit_radius  # the disk radius, or the largest disk about an outline's centroid
    extent = fit - margin
    if radius[1] >= extent:
        raise _error(
            "phantom.radius",
            f"an object of radius {radius[1]} m does not fit: the sensor's cross-section holds a disk of "
            f"radius {fit:.4g} m and phantom.margin is {margin} m",
        )
    if dim == 3 and shape == "sphere" and 2 * (radius[1] + margin) >= spec.height:
        raise _error("phantom.radius", f"a sphere of radius {radius[1]} m does not fit in height {spec.height} m")
    if not overlap and n_range[1] > 1:
        r = radius[0] + min_gap / 2
        if dim == 2 or shape == "cylinder":
            covered = n_range[1] * r**2 / (extent + min_gap / 2) ** 2
            limit = JAMMING[2]
        else:
            covered = n_range[1] * r**3 / ((extent + min_gap / 2) ** 2 * (spec.height - 2 * margin) * 0.75)
            limit = JAMMING[3]
        if covered > limit:
            raise _error(
                range_key,
                f"{n_range[1]} non-overlapping objects of radius >= {radius[0]} m (gap {min_gap} m) "
                f"cover {covered:.0%} of the region, beyond what random placement can reach ({limit:.0%})",
            )
    return PhantomConfig(
        shape=shape,
        background=background,
        conductivity=conductivity,
        radius=radius,
        margin=margin,
        min_gap=min_gap,
        overlap=overlap,
        n_objects=n_range,
        counts=counts,
        both_signs=both_signs,
    )


def config_json(config: DatasetConfig) -> str:
    """Canonical JSON of the checked configuration (what identifies a dataset's content)."""
    data = asdict(config)
    data.pop("raw")
    # Options added later are left out at their defaults, so older datasets keep their key.
    for key in ("noise_relative", "noise_floor"):
        if data[key] is None:
            data.pop(key)
    if data["exact_readings"]:
        data.pop("exact_readings")
    if not data["phantom"]["both_signs"]:
        data["phantom"].pop("both_signs")
    return json.dumps(data, sort_keys=True, default=list)
