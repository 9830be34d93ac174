"""Safe output paths: femeit never deletes or overwrites what it did not create.

Every command that writes a file or a folder asks this module first.  The
rules (tested in ``tests/test_robustness_outputs.py``):

* an output *file* must not name an existing folder; an existing file is kept
  unless the caller passes ``overwrite=True`` (the CLI's ``--overwrite``);
* the folder that will hold the file is created if needed, and an unwritable
  or read-only location is reported with the path, before any work is done;
* output *folders* (dataset stores) are handled by
  :func:`femeit.datasets.store.prepare_store`, which refuses a non-empty folder
  that is not a femeit store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from femeit.errors import FemeitError


def writable_folder(folder: Path, what: str) -> Path:
    """Create ``folder`` (and parents) if needed and check that files can be written in it.

    Raises
    ------
    FemeitError
        When a path component is a file, the folder cannot be created, or it is read-only.
    """
    folder = Path(folder)
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise FemeitError(f"cannot write the {what}: {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FemeitError(f"cannot create the folder {folder} for the {what}: {exc.strerror or exc}") from None
    # A real probe (not os.access): root passes permission checks but not a
    # read-only file system.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or exc
        raise FemeitError(f"cannot write the {what} in {folder}: the folder is read-only ({reason})") from None
    return folder


def output_file(path: str | Path, what: str, *, overwrite: bool = False, suffixes: tuple[str, ...] = ()) -> Path:
    """Check an output file path before any work is done; returns it as a Path.

    Parameters
    ----------
    path : str or Path
        The file to write.
    what : str
        What is written (for messages), e.g. ``"mesh"``.
    overwrite : bool
        Replace an existing file (never a folder).
    suffixes : tuple of str, optional
        Accepted suffixes (``(".npz", ".csv")``); empty accepts any.

    Raises
    ------
    FemeitError
        If ``path`` is a folder, exists (without ``overwrite``), has another
        suffix, or its folder cannot be created or written.
    """
    out = Path(path)
    if str(path).strip() == "" or out.name in ("", ".", ".."):
        raise FemeitError(f"the {what} output {str(path)!r} is not a file name")
    if suffixes and out.suffix not in suffixes:
        raise FemeitError(f"the {what} output must end in {' or '.join(suffixes)}, got {out.name}")
    if out.is_dir():
        raise FemeitError(f"the {what} output {out} is an existing folder; give a file name")
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise FemeitError(f"{out} exists; femeit does not overwrite files: choose another name or pass --overwrite")
        if not out.is_file():
            raise FemeitError(f"{out} exists and is not a regular file; femeit will not replace it")
        if not os.access(out, os.W_OK):
            raise FemeitError(f"cannot overwrite {out}: the file is read-only")
    writable_folder(out.parent if str(out.parent) else Path("."), what)
    return out
