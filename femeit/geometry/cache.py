"""An on-disk cache of meshed specs.

The key is the SHA-256 of the spec's canonical JSON, the gmsh version and the
cache format version, so a changed spec, a new gmsh or a new femeit layout never
returns a stale mesh.  Entries are ``.npz`` files written to a temporary name
and renamed into place, so an interrupted write never leaves a corrupt entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gmsh
import numpy as np

from femeit.geometry.spec_io import spec_digest

if TYPE_CHECKING:
    from femeit.geometry.specs import Spec
    from femeit.mesh import EITMesh

CACHE_FORMAT = 1


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
        """Arrays for :meth:`EITMesh.from_parts`, or None on a miss or unreadable entry."""
        path = self.path(spec)
        try:
            with np.load(path, allow_pickle=False) as data:
                names = [str(n) for n in data["electrode_names"]]
                offsets = data["facet_offsets"]
                facets = data["facets"]
                point_nodes = data["point_nodes"]
                electrodes = [
                    (
                        name,
                        None if point_nodes[i] >= 0 else facets[offsets[i] : offsets[i + 1]],
                        int(point_nodes[i]) if point_nodes[i] >= 0 else None,
                    )
                    for i, name in enumerate(names)
                ]
                return {
                    "points": data["points"],
                    "elements": data["elements"],
                    "element_region": data["element_region"],
                    "region_names": tuple(str(n) for n in data["region_names"]),
                    "electrodes": electrodes,
                    "where": str(path),
                    "check": False,
                }
        except (OSError, KeyError, ValueError):
            return None

    def save(self, spec: Spec, mesh: EITMesh) -> Path:
        """Store ``mesh`` under the key of ``spec``; returns the file written."""
        self.folder.mkdir(parents=True, exist_ok=True)
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
        target = self.path(spec)
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
