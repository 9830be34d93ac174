"""Readers for the Kuopio Tomography Challenge 2023 (KTC2023) training data.

The challenge published measured EIT data from a circular water tank
(radius 0.115 m, 32 electrodes) with four targets, at seven difficulty levels,
and the ground-truth segmentations (Zenodo record 8252370, CC BY 4.0; see
``femeit/data/ktc2023/README.md``).  This module turns the MATLAB files into a
femeit :class:`~femeit.protocol.Protocol` and data arrays with an explicit
mask of usable rows.

File conventions (1-based electrodes in the files, 0-based here):

* ``ref.mat``: ``Injref`` (32, 76) currents per electrode and pattern, **mA**;
  ``Mpat`` (32, 31) measurement weights; ``Uelref`` (2356, 1) voltages, V,
  injection-major (76 patterns x 31 readings).
* ``dataK.mat``: the same with the target in the tank: ``Inj``, ``Mpat``, ``Uel``.
* ``trueK.mat``: ``truth`` (256, 256) uint8, 0 water, 1 resistive, 2
  conductive, over the square [-0.115, 0.115]^2, row 0 at the top (+y).

Currents are converted to amperes on reading, so a femeit forward model with
the returned protocol predicts the files' voltages directly.

At level k > 1 of the training set the electrodes 1 .. 2(k-1) (1-based) are
removed: every row whose current pattern or measurement uses one of them is NaN
in the files.  :func:`usable_rows` rebuilds that mask from the level number,
and the levels' files hold the level-1 values elsewhere, so femeit ships only
level 1 and rebuilds levels 2-7 by masking (:func:`load_level`).  A folder in
one of the challenge's layouts (``root=``) is read as it is: any number of
targets per level, the training set's names (``level_1/data1.mat``,
``ground_truth/true1.mat``) or the evaluation set's (``level1/data1.mat``,
``GroundTruths/level_1/1_true.mat``), the mask derived from the data's NaN rows
(:func:`removed_electrodes`).  Missing rows are never dropped silently: callers
index with the mask, and NaN rows that no removed electrode explains are an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError
from femeit.protocol import Protocol

N_ELECTRODES = 32
N_INJECTIONS = 76
N_MEASUREMENTS = 31
N_ROWS = N_INJECTIONS * N_MEASUREMENTS
LEVELS = tuple(range(1, 8))
TARGETS = (1, 2, 3, 4)
RADIUS = 0.115
"""Tank radius, m."""
ELECTRODE_WIDTH = RADIUS * np.deg2rad(360.0 / 64)
"""Electrode arc length, m (5.625 degrees of arc, equal to the gaps)."""
IMAGE_SHAPE = (256, 256)
MILLIAMPERE = 1e-3

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "ktc2023"
"""The packaged copy: ``level_1/`` and ``ground_truth/``."""


@dataclass(frozen=True, eq=False)
class Measurement:
    """One KTC2023 file read into femeit's conventions.

    Attributes
    ----------
    protocol : Protocol
        The 76 current patterns (A) and 31 readings, 2356 rows, injection-major.
    voltages : ndarray, shape (2356,)
        Measured voltages, V; NaN where missing.
    mask : ndarray of bool, shape (2356,)
        True for usable rows (finite voltage).
    source : str
        The file it came from.
    """

    protocol: Protocol
    voltages: np.ndarray
    mask: np.ndarray
    source: str = ""


@dataclass(frozen=True, eq=False)
class Level:
    """A level: the reference, the four target data sets and the usable-row mask.

    Attributes
    ----------
    level : int
        1..7.
    reference : Measurement
        Empty tank.
    data : dict[int, Measurement]
        Target number (1..4) -> measurement with that target in the tank.
    mask : ndarray of bool, shape (2356,)
        Rows usable at this level (:func:`usable_rows`), the same for all targets.
    """

    level: int
    reference: Measurement
    data: dict
    mask: np.ndarray

    @property
    def protocol(self) -> Protocol:
        """The full protocol (all 2356 rows; index with :attr:`mask`)."""
        return self.reference.protocol


def _load_mat(path: str | Path) -> dict:
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FemeitError(f"KTC2023 file not found: {path}")
    try:
        return loadmat(path)
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise FemeitError(f"{path} is not a readable MATLAB .mat file: {exc}") from exc


def _get(mat: dict, keys: tuple[str, ...], path: str | Path) -> tuple[str, np.ndarray]:
    for key in keys:
        if key in mat:
            return key, np.asarray(mat[key])
    found = sorted(k for k in mat if not k.startswith("__"))
    raise FemeitError(f"{path}: missing variable {' or '.join(keys)} (the file holds {found})")


def _shape(name: str, arr: np.ndarray, shape: tuple[int, ...], path: str | Path) -> np.ndarray:
    if arr.shape != shape:
        raise FemeitError(f"{path}: {name} must have shape {shape}, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise FemeitError(f"{path}: {name} must be numeric, got {arr.dtype}")
    if np.iscomplexobj(arr):
        raise FemeitError(
            f"{path}: {name} is complex; femeit reads real (in-phase) readings only, so the imaginary part "
            "would be lost: pass the real part explicitly if that is what you mean"
        )
    return arr.astype(float)


def read_measurement(path: str | Path) -> Measurement:
    """Read a ``ref.mat`` or ``dataK.mat`` file.

    Parameters
    ----------
    path : str or Path
        File with ``Injref``/``Inj`` (32, 76) in mA, ``Mpat`` (32, 31) and
        ``Uelref``/``Uel`` (2356, 1) in V.

    Returns
    -------
    Measurement
        Protocol with currents in A, voltages (2356,) with NaN kept, and the mask of finite rows.

    Raises
    ------
    FemeitError
        Missing file or variable, wrong shape, non-finite currents or patterns.
    """
    mat = _load_mat(path)
    inj_key, inj = _get(mat, ("Injref", "Inj"), path)
    _, mpat = _get(mat, ("Mpat",), path)
    u_key, u = _get(mat, ("Uelref", "Uel"), path)
    inj = _shape(inj_key, inj, (N_ELECTRODES, N_INJECTIONS), path) * MILLIAMPERE
    mpat = _shape("Mpat", mpat, (N_ELECTRODES, N_MEASUREMENTS), path)
    if u.shape == (N_ROWS,):
        u = u[:, None]
    u = _shape(u_key, u, (N_ROWS, 1), path).ravel()
    if not (np.all(np.isfinite(inj)) and np.all(np.isfinite(mpat))):
        raise FemeitError(f"{path}: {inj_key} and Mpat must be finite")
    try:
        protocol = Protocol.from_patterns(inj, mpat)
    except FemeitError as exc:
        raise FemeitError(f"{path}: {exc}") from exc
    return Measurement(protocol, u, np.isfinite(u), str(path))


def read_truth(path: str | Path) -> np.ndarray:
    """Read a ground-truth segmentation ``trueK.mat``.

    Returns
    -------
    ndarray of int, shape (256, 256)
        0 water, 1 resistive, 2 conductive; row 0 at the top (+y), column 0 at x = -0.115 m.
    """
    mat = _load_mat(path)
    _, truth = _get(mat, ("truth",), path)
    truth = _shape("truth", truth, IMAGE_SHAPE, path)
    if not np.all(np.isin(truth, (0, 1, 2))):
        raise FemeitError(f"{path}: truth must hold only the classes 0, 1 and 2")
    return truth.astype(np.int64)


def missing_electrodes(level: int) -> np.ndarray:
    """Electrodes removed at ``level`` (0-based): 0 .. 2(level-1) - 1; none at level 1."""
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level not in LEVELS:
        raise FemeitError(f"KTC2023 levels are 1..7, got {level!r}")
    return np.arange(2 * (level - 1))


def usable_rows(protocol: Protocol, level: int) -> np.ndarray:
    """Mask of the rows that use none of the level's removed electrodes.

    A row is unusable when its current pattern drives a removed electrode or its
    reading weighs one.  On the KTC2023 files this is exactly the set of NaN rows.

    Parameters
    ----------
    protocol : Protocol
        The KTC2023 protocol (or any protocol on 32 electrodes).
    level : int
        1..7.

    Returns
    -------
    ndarray of bool, shape (n_rows,)
    """
    gone = missing_electrodes(level)
    if protocol.n_electrodes != N_ELECTRODES:
        raise FemeitError(f"KTC2023 protocols have {N_ELECTRODES} electrodes, got {protocol.n_electrodes}")
    drives = np.any(protocol.injections[:, gone] != 0, axis=1)[protocol.row_injection]
    reads = np.any(protocol.measurements[:, gone] != 0, axis=1)
    return ~(drives | reads)


def _masked(m: Measurement, mask: np.ndarray) -> Measurement:
    u = np.where(mask, m.voltages, np.nan)
    return Measurement(m.protocol, u, mask & m.mask, m.source)


def _touching(protocol: Protocol, electrodes: np.ndarray) -> np.ndarray:
    """Rows whose current pattern drives, or whose reading weighs, one of ``electrodes``, shape (n_rows,)."""
    drives = np.any(protocol.injections[:, electrodes] != 0, axis=1)[protocol.row_injection]
    reads = np.any(protocol.measurements[:, electrodes] != 0, axis=1)
    return drives | reads


def removed_electrodes(measurement: Measurement) -> np.ndarray:
    """The electrodes a measurement lacks, derived from its NaN rows (0-based).

    An electrode counts as removed when every reading that weighs it is
    missing (NaN).  The rows that use a removed electrode (reading it or
    driving current through it) are then unusable; any other NaN row is an
    error (NaN beyond the mask), since no removed electrode explains it.

    Parameters
    ----------
    measurement : Measurement

    Returns
    -------
    ndarray of int
        Sorted electrode indices, 0-based; empty when nothing is missing.

    Raises
    ------
    FemeitError
        NaN rows that no removed electrode explains, naming the file and the first such row.
    """
    prot, finite = measurement.protocol, measurement.mask
    weighs = prot.measurements != 0  # (n_rows, L)
    # An electrode is removed when no reading that weighs it is finite.
    removed = np.flatnonzero(~np.any(weighs & finite[:, None], axis=0) & np.any(weighs, axis=0))
    expected = _touching(prot, removed) if removed.size else np.zeros(prot.n_rows, dtype=bool)
    stray = ~finite & ~expected
    if stray.any():
        row = int(np.flatnonzero(stray)[0])
        raise FemeitError(
            f"{measurement.source or 'measurement'}: {int(stray.sum())} NaN readings beyond the mask of the removed "
            f"electrodes {(removed + 1).tolist()} (1-based), first at row {row + 1} (current pattern "
            f"{row // N_MEASUREMENTS + 1}, reading {row % N_MEASUREMENTS + 1}); no removed electrode explains them"
        )
    return removed


def mask_from_data(measurement: Measurement) -> np.ndarray:
    """Usable rows of a measurement: those that use none of its :func:`removed_electrodes`, shape (n_rows,)."""
    removed = removed_electrodes(measurement)
    if not removed.size:
        return np.ones(measurement.protocol.n_rows, dtype=bool)
    return ~_touching(measurement.protocol, removed)


_LEVEL_DIR = re.compile(r"^level_?(\d+)$", re.IGNORECASE)
_DATA_FILE = re.compile(r"^data(\d+)\.mat$", re.IGNORECASE)


def level_folders(root: str | Path) -> dict[int, Path]:
    """The level folders of a challenge layout: ``level_1/`` (training set) or ``level1/`` (evaluation set).

    Parameters
    ----------
    root : path
        The folder holding the level folders.

    Returns
    -------
    dict[int, Path]
        Level number -> folder, in increasing order.

    Raises
    ------
    FemeitError
        ``root`` is not a folder, holds no level folder, or holds two folders for one level.
    """
    root = Path(root)
    if not root.is_dir():
        raise FemeitError(f"KTC2023 data folder not found: {root}")
    found: dict[int, Path] = {}
    for p in sorted(root.iterdir()):
        m = _LEVEL_DIR.match(p.name)
        if m and p.is_dir():
            k = int(m.group(1))
            if k in found:
                raise FemeitError(f"{root}: two folders for level {k}: {found[k].name} and {p.name}")
            found[k] = p
    if not found:
        raise FemeitError(f"{root}: no level folder (level_1/ or level1/ with ref.mat and data1.mat ...)")
    return dict(sorted(found.items()))


def target_files(folder: str | Path) -> dict[int, Path]:
    """The target files ``data1.mat``, ``data2.mat`` ... of a level folder, any number of them (number -> path)."""
    folder = Path(folder)
    files = {int(m.group(1)): p for p in folder.iterdir() if (m := _DATA_FILE.match(p.name)) and p.is_file()}
    if not files:
        raise FemeitError(f"{folder}: no target data (data1.mat, data2.mat ...)")
    return dict(sorted(files.items()))


def _level_folder(root: str | Path, level: int) -> Path:
    folders = level_folders(root)
    if level not in folders:
        raise FemeitError(f"{root}: no folder for level {level} (found levels {list(folders)})")
    return folders[level]


def load_level(level: int = 1, root: str | Path | None = None) -> Level:
    """Read one level's reference and its targets' data.

    Parameters
    ----------
    level : int
        1..7.
    root : path, optional
        A folder laid out as one of the challenge's sets: the training set's
        ``level_k/ref.mat``, ``level_k/data1.mat`` ... or the evaluation set's
        ``levelk/ref.mat``, ``levelk/data1.mat`` ...; any number of targets.
        The level's mask is derived from the data (:func:`removed_electrodes`).
        Default: the packaged copy, which holds level 1 only; levels 2-7 are
        then rebuilt from level 1 with :func:`usable_rows` (identical to the
        published files).

    Returns
    -------
    Level
        With the NaN rows of the data masked; the reference keeps all its rows
        (it is complete at every level) but ``Level.mask`` says which to use.

    Raises
    ------
    FemeitError
        Bad level, a level folder without ``ref.mat`` or without targets, a corrupt file,
        patterns that differ from the reference's, NaN rows beyond the removed electrodes'
        (in a target or in the reference), or targets that lack different electrodes.
    """
    missing_electrodes(level)  # validates the level (a whole number 1..7)
    if root is None:
        folder = DATA_DIR / "level_1"
        ref = read_measurement(folder / "ref.mat")
        mask = usable_rows(ref.protocol, level)
        data = {k: _masked(read_measurement(folder / f"data{k}.mat"), mask) for k in TARGETS}
        return Level(level, ref, data, mask)
    folder = _level_folder(root, level)
    if not (folder / "ref.mat").is_file():
        raise FemeitError(f"{folder}: the level folder has no reference ref.mat (the empty-tank measurement)")
    ref = read_measurement(folder / "ref.mat")
    mask, first = None, None
    data = {}
    for k, path in target_files(folder).items():
        m = read_measurement(path)
        if not np.array_equal(m.protocol.injections, ref.protocol.injections) or not np.array_equal(
            m.protocol.measurements, ref.protocol.measurements
        ):
            raise FemeitError(f"{m.source}: current or measurement patterns differ from the reference's")
        own = mask_from_data(m)
        if mask is None:
            mask, first = own, m.source
        elif not np.array_equal(own, mask):
            raise FemeitError(
                f"{m.source}: its missing electrodes differ from those of {first} "
                f"({int((~own).sum())} and {int((~mask).sum())} unusable rows)"
            )
        data[k] = _masked(m, own)
    ref_mask = mask_from_data(ref)
    if not np.all(ref_mask[mask]):
        raise FemeitError(f"{ref.source}: the reference lacks rows that the level's targets use")
    return Level(level, ref, data, mask)


_TRUTH_FILE = re.compile(r"^(?:true(\d+)|(\d+)_true)\.mat$", re.IGNORECASE)


def _truth_folder(root: Path, level: int | None) -> Path:
    shared = root / "ground_truth"
    if shared.is_dir():
        return shared
    for name in ("GroundTruths", "ground_truths", "groundtruths"):
        base = root / name
        if base.is_dir():
            if level is None:
                raise FemeitError(f"{base}: ground truths are per level here; pass the level")
            return _level_folder(base, level)
    raise FemeitError(f"{root}: no ground_truth/ or GroundTruths/level_k/ folder")


def load_truths(root: str | Path | None = None, level: int | None = None) -> dict[int, np.ndarray]:
    """Ground-truth segmentations, target -> (256, 256) int array.

    Parameters
    ----------
    root : path, optional
        A challenge layout: the training set's ``ground_truth/true1.mat`` ...
        (one set for all levels) or the evaluation set's
        ``GroundTruths/level_1/1_true.mat`` ... (per level).  Default: the packaged copy.
    level : int, optional
        Needed for the evaluation set's per-level truths.

    Returns
    -------
    dict[int, ndarray]
        Target number -> labels 0 water, 1 resistive, 2 conductive.
    """
    if root is None:
        folder = DATA_DIR / "ground_truth"
    else:
        folder = _truth_folder(Path(root), level)
    files = {}
    for p in sorted(folder.iterdir()):
        m = _TRUTH_FILE.match(p.name)
        if m and p.is_file():
            files[int(m.group(1) or m.group(2))] = p
    if not files:
        raise FemeitError(f"{folder}: no ground-truth files (true1.mat or 1_true.mat ...)")
    return {k: read_truth(files[k]) for k in sorted(files)}


def transfer_matrix(measurement: Measurement) -> np.ndarray:
    """Four-electrode transfer impedances between the current patterns, ohm, shape (76, 76).

    ``T[p, q] = I_q . U(I_p) / (|I_p| |I_q|)`` with ``|I|`` the pattern's
    amplitude: the voltage between pattern q's electrodes while driving p,
    reconstructed from the adjacent readings.  Reciprocity makes T symmetric.
    """
    prot = measurement.protocol
    if not np.all(measurement.mask):
        raise FemeitError("the transfer matrix needs every row (level-1 data)")
    inj = prot.injections  # (76, 32), A
    mpat = prot.measurements[:N_MEASUREMENTS]  # (31, 32)
    weights, *_ = np.linalg.lstsq(mpat.T, inj.T, rcond=None)  # inj_q = weights[:, q] @ mpat
    v = measurement.voltages.reshape(N_INJECTIONS, N_MEASUREMENTS)
    amp = np.abs(inj).max(axis=1)
    return (v @ weights) / np.outer(amp, amp)


def reciprocity_error(measurement: Measurement) -> float:
    """Relative asymmetry of the transfer impedances, ``||T - T'|| / ||T + T'||``.

    A reciprocal (linear, passive) system gives 0; no model can fit data better than
    about this level, since every forward model is reciprocal.
    """
    t = transfer_matrix(measurement)
    off = ~np.eye(len(t), dtype=bool)
    return float(np.linalg.norm((t - t.T)[off]) / np.linalg.norm((t + t.T)[off]))
