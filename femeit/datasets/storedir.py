"""The folder of a dataset store: what it holds, whose it is, who writes it.

femeit deletes only what it created.  A store folder is recognised as femeit's
by its ``zarr.json`` (``format = "femeit-dataset"``) or, while it is being
created, by the marker file :data:`CREATING`; anything else in a non-empty
folder belongs to the user and the folder is refused.  :func:`remove_store`
deletes only the entries of the store layout, never other files a user put
next to them.

A writer holds an advisory lock (``fcntl.flock`` on :data:`LOCK`) for as long
as it writes, so a second ``generate`` on the same store stops with a message
instead of interleaving writes.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from femeit.errors import FemeitError

LOCK = ".femeit-lock"
CREATING = ".femeit-creating"
FORMAT = "femeit-dataset"
# Every entry the store layout creates (arrays are folders, metadata zarr.json).
LAYOUT = (
    "zarr.json",
    "voltages",
    "voltages_clean",
    "eim",
    "images",
    "sigma",
    "objects",
    "n_objects",
    "split",
    "reference",
    "image_mask",
    "mesh",
    "protocol",
    "progress",
    "checksums",
)


def store_state(path: Path) -> str:
    """Classify an output folder.

    Returns
    -------
    str
        ``"absent"`` (nothing there), ``"empty"`` (an empty folder, or only a
        lock left by femeit), ``"creating"`` (a femeit store whose creation was
        interrupted), ``"store"`` (a femeit store) or ``"foreign"`` (anything else:
        a file, or a folder with other content).
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return "absent"
    if not path.is_dir():
        return "foreign"
    try:
        names = {p.name for p in path.iterdir()}
    except OSError as exc:
        raise FemeitError(f"cannot list {path}: {exc.strerror or exc}") from None
    if CREATING in names:
        return "creating"
    if not names - {LOCK}:
        return "empty"
    if "zarr.json" in names:
        try:
            meta = json.loads((path / "zarr.json").read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            return "foreign"
        if isinstance(meta, dict) and (meta.get("attributes") or {}).get("format") == FORMAT:
            return "store"
    return "foreign"


def refuse_foreign(path: Path) -> None:
    """Raise a clear error when ``path`` is a file or a non-empty folder that is not a femeit store."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FemeitError(f"{path} is an existing file; a dataset is a folder: choose another output path")
    if store_state(path) == "foreign":
        raise FemeitError(
            f"{path} is a non-empty folder that is not a femeit dataset; femeit never deletes files it did "
            "not create: choose a new or empty folder"
        )


def remove_store(path: Path) -> None:
    """Delete the entries of a femeit store's layout in ``path`` (not the lock, not other files)."""
    path = Path(path)
    if store_state(path) not in ("store", "creating", "empty"):
        raise FemeitError(f"{path} is not a femeit dataset; not deleting it")
    for name in (*LAYOUT, CREATING):
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


@contextmanager
def writer_lock(path: Path):
    """Hold the store's advisory write lock; a second writer gets a :class:`FemeitError`."""
    import fcntl

    path = Path(path)
    lock_path = path / LOCK
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise FemeitError(f"cannot write to {path}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            except OSError:
                holder = "?"
            raise FemeitError(
                f"{path} is being written by another femeit process (pid {holder}); wait for it to finish "
                "or stop it, then run the command again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
