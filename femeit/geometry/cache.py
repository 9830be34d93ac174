"""An on-disk cache of meshed specs.

The key is the SHA-256 of the spec's canonical JSON, the gmsh version and the
cache format version, so a changed spec, a new gmsh or a new femeit layout never
returns a stale mesh.  Entries are ``.npz`` files written to a temporary name
and renamed into place, so an interrupted write never leaves a corrupt entry;
each records its key and a SHA-256 of its arrays, checked on every load, so an
edited, truncated or misplaced entry is never served (it is rebuilt with a
warning).  A cache folder that cannot be written is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gmsh
import numpy as np

from femeit.errors import warn
from femeit.geometry.spec_io import spec_digest

if TYPE_CHECKING:
    from femeit.geometry.kinds import Spec
    from femeit.mesh import EITMesh

CACHE_FORMAT = 2


def default_cache_dir() -> Path:
    """``$FEMEIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/femeit``, else ``~/.cache/femeit``."""
    if os.environ.get("FEMEIT_CACHE_DIR"):
        return Path(os.environ["FEMEIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "femeit"


class MeshCache:
    """Mesh cache in a folder (created on first save).

    Parameters
    ----------
    folder : path, optional
        Default :func:`default_cache_dir`.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()

    def key(self, spec: Spec) -> str:
        """The cache key of ``spec``."""
        text = f"{spec_digest(spec)}|gmsh {gmsh.__version__}|format {CACHE_FORMAT}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def path(self, spec: Spec) -> Path:
        """The file that holds (or would hold) the mesh of ``spec``."""
        return self.folder / f"{spec.kind}-{self.key(spec)}.npz"

    def load(self, spec: Spec) -> dict[str, Any] | None:
        """Arrays for :meth:`EITMesh.from_parts`, or None on a miss.

        An entry is used only when it is intact: its recorded key equals the
        spec's key, the SHA-256 of its arrays equals the one recorded when it
        was written, and its electrode count is the spec's.  A damaged,
        truncated or foreign entry gives a warning naming the file and None, so
        the caller meshes again (and overwrites the entry).  The mesh checks then
        run on what is loaded (``check=True``).
        """
        path = self.path(spec)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            problem = _entry_problem(arrays, self.key(spec), spec)
        except Exception as exc:  # zipfile, zlib, OS and format errors: all mean a damaged entry
            problem = f"cannot be read ({type(exc).__name__}: {exc})"
        if problem is not None:
            warn(f"mesh cache entry {path} {problem}; meshing again", RuntimeWarning)
            return None
        names = [str(n) for n in arrays["electrode_names"]]
        offsets, facets, point_nodes = arrays["facet_offsets"], arrays["facets"], arrays["point_nodes"]
        electrodes = [
            (
                name,
                None if point_nodes[i] >= 0 else facets[offsets[i] : offsets[i + 1]],
                int(point_nodes[i]) if point_nodes[i] >= 0 else None,
            )
            for i, name in enumerate(names)
        ]
        return {
            "points": arrays["points"],
            "elements": arrays["elements"],
            "element_region": arrays["element_region"],
            "region_names": tuple(str(n) for n in arrays["region_names"]),
            "electrodes": electrodes,
            "where": f"mesh cache entry {path}",
            "check": True,
        }

    def save(self, spec: Spec, mesh: EITMesh) -> Path | None:
        """Store ``mesh`` under the key of ``spec``; returns the file written.

        A cache folder that cannot be written gives a warning and None: meshing
        goes on without the cache.
        """
        sizes = [len(e.facets) for e in mesh.electrodes]
        arrays = {
            "points": mesh.points,
            "elements": mesh.elements,
            "element_region": mesh.element_region,
            "region_names": np.array(mesh.region_names),
            "electrode_names": np.array([e.name for e in mesh.electrodes]),
            "facets": np.concatenate([e.facets for e in mesh.electrodes]),
            "facet_offsets": np.concatenate([[0], np.cumsum(sizes)]),
            "point_nodes": np.array([e.node for e in mesh.electrodes]),
        }
        arrays["key"] = np.array(self.key(spec))
        arrays["content_sha256"] = np.array(_content_hash(arrays))
        target = self.path(spec)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".npz.tmp")
        except OSError as exc:
            warn(
                f"the mesh cache {self.folder} cannot be written ({exc.strerror or exc}); continuing without it",
                RuntimeWarning,
            )
            return None
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            warn(
                f"the mesh cache entry {target} cannot be written ({exc.strerror or exc}); continuing without it",
                RuntimeWarning,
            )
            return None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


_CONTENT = (
    "points",
    "elements",
    "element_region",
    "region_names",
    "electrode_names",
    "facets",
    "facet_offsets",
    "point_nodes",
    "key",
)


def _content_hash(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array of an entry (name, dtype, shape and bytes)."""
    h = hashlib.sha256()
    for name in _CONTENT:
        value = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _entry_problem(arrays: dict[str, np.ndarray], key: str, spec: Spec) -> str | None:
    """Why a loaded entry must not be used, or None when it is intact."""
    missing = [name for name in (*_CONTENT, "content_sha256") if name not in arrays]
    if missing:
        return f"lacks {missing} (written by an older femeit, or damaged)"
    if str(arrays["key"]) != key:
        return "belongs to another spec"
    if str(arrays["content_sha256"]) != _content_hash(arrays):
        return "was modified after it was written (content hash mismatch)"
    if len(arrays["electrode_names"]) != spec.n_electrodes:
        return f"has {len(arrays['electrode_names'])} electrodes, the spec {spec.n_electrodes}"
    return None
