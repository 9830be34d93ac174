"""A dataset sensor read from a mesh file that follows the physical-group contract.

``[sensor] file = "tank.msh"`` (a path relative to the TOML, or absolute) makes
a dataset on a user's own mesh: the forward model runs on that mesh as it is,
and the random objects are placed inside the mesh's outer boundary, which is
read from the mesh as a polygon.  The configuration records the file's
absolute path and SHA-256, so a dataset can never silently mix samples of two
different meshes: a changed file is refused when the run resumes or is verified.

A 3D mesh must be a vertical tank, as the dataset's 3D phantoms (spheres
between the bottom and the top, vertical rods) and voxel layers assume: its
bottom face at z = 0, its cross-section the polygon of that face at every
height (checked: the mesh's volume equals the polygon's area times the height
within 2 %, which a faceted curved wall meets).  Other volumes are refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from femeit.errors import FemeitError
from femeit.geometry.outline import Outline

KIND = "mesh_file"


@dataclass(frozen=True)
class MeshFileSensor:
    """A 2D sensor mesh from a file, with the polygon of its outer boundary.

    Attributes
    ----------
    path : str
        Absolute path of the ``.msh`` (or ``.geo``) file.
    sha256 : str
        Hex digest of the file's bytes when the configuration was checked.
    n_electrodes : int
        Electrodes in the mesh's physical groups.
    outline : Outline
        The mesh's outer boundary (2D) or its bottom face's (3D) as a polygon
        (m), where objects are placed.
    dim : int
        2 or 3.
    height : float or None
        The tank's height (3D), m.
    """

    path: str
    sha256: str
    n_electrodes: int
    outline: Outline
    dim: int = 2
    height: float | None = None
    kind: ClassVar[str] = KIND
    rings: ClassVar[tuple] = ()
    inclusions: ClassVar[tuple] = ()
    # The mesh exists already: femeit.limits does not estimate its size.
    mesh_is_given: ClassVar[bool] = True

    def mesh(self):
        """The EITMesh of the file (checked against the recorded SHA-256)."""
        return _read(self.path, self.sha256)[0]

    def to_dict(self) -> dict:
        """What the dataset's configuration records: ``{"file": absolute path, "sha256": digest}``."""
        return {"file": self.path, "sha256": self.sha256}


def is_mesh_file_table(table) -> bool:
    """Whether a ``[sensor]`` table names a mesh file rather than a geometry spec."""
    return isinstance(table, dict) and "file" in table


def sensor_from_table(table: dict, base: Path | None = None) -> MeshFileSensor:
    """Check a ``[sensor]`` table ``{file = ..., sha256 = ...?}`` and read the mesh's outline.

    Parameters
    ----------
    table : dict
        ``file``: path of a mesh following the physical-group contract,
        relative to ``base``; ``sha256`` (optional): the digest the file must have.
    base : Path, optional
        Folder of the configuration file (relative paths are resolved there).

    Raises
    ------
    FemeitError
        Unknown keys, a missing or unreadable file, a changed file, a 3D mesh,
        or a mesh whose boundary is not one closed loop.
    """
    unknown = sorted(set(table) - {"file", "sha256"})
    if unknown:
        raise FemeitError(f"sensor.{unknown[0]}: a mesh-file sensor takes only 'file' (and 'sha256'), not {unknown}")
    name = table["file"]
    if not isinstance(name, str) or not name:
        raise FemeitError(f"sensor.file must be the path of a mesh file, got {name!r}")
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = (Path(base) if base is not None else Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise FemeitError(f"sensor.file: mesh file not found: {path}")
    digest = _sha256(path)
    expected = table.get("sha256")
    if expected is not None and expected != digest:
        raise FemeitError(
            f"sensor.file: {path} has changed since this dataset was configured (SHA-256 {digest[:12]}..., "
            f"recorded {str(expected)[:12]}...): its samples would mix two meshes; restore the file "
            "or make a new dataset"
        )
    mesh, outline, height = _read(str(path), digest)
    return MeshFileSensor(str(path), digest, mesh.n_electrodes, outline, mesh.dim, height)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=4)
def _read(path: str, digest: str):
    """The mesh, the polygon where objects go and the height (3D; None in 2D), cached per file content."""
    from femeit.mesh import boundary_facets, element_measures, read_mesh

    if _sha256(Path(path)) != digest:
        raise FemeitError(f"mesh file {path} changed while in use (its SHA-256 differs from the recorded one)")
    mesh = read_mesh(path)
    points, elements = mesh.points, mesh.elements
    if mesh.dim == 2:
        loop = _loop(boundary_facets(elements), len(points), path)
        return mesh, Outline(shape="polygon", points=tuple(map(tuple, points[loop, :2]))), None
    z = points[:, 2]
    zmin, zmax = float(z.min()), float(z.max())
    tol = 1e-9 * float(np.ptp(points, axis=0).max())
    if abs(zmin) > tol:
        raise FemeitError(
            f"sensor.file: {path} is a 3D mesh whose bottom is at z = {zmin:.6g} m; datasets place their 3D "
            "objects between z = 0 and the top: translate the mesh so that its bottom is at z = 0"
        )
    faces = boundary_facets(elements)
    bottom = faces[np.all(np.abs(z[faces] - zmin) <= tol, axis=1)]
    if not len(bottom):
        raise FemeitError(f"sensor.file: {path} has no flat bottom face at z = 0; datasets need a vertical tank")
    edges = np.sort(np.concatenate([bottom[:, [0, 1]], bottom[:, [1, 2]], bottom[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    loop = _loop(unique[counts == 1], len(points), path)
    outline = Outline(shape="polygon", points=tuple(map(tuple, points[loop, :2])))
    volume = float(element_measures(points, elements).sum())
    prism = outline.area * zmax
    if abs(volume - prism) > 0.02 * prism:
        raise FemeitError(
            f"sensor.file: {path} is not a vertical tank: its volume {volume:.4g} m^3 differs from its bottom's "
            f"area times its height ({prism:.4g} m^3) by more than 2 %; datasets need the same cross-section at "
            "every height (use a spec for other shapes)"
        )
    return mesh, outline, zmax


def _loop(edges: np.ndarray, n_points: int, path: str) -> np.ndarray:
    """Node indices in order round the single closed loop that ``edges`` (n, 2) form."""
    nxt: dict[int, list[int]] = {}
    for a, b in edges:  # the boundary of a triangulated disk: every node has two boundary edges
        nxt.setdefault(int(a), []).append(int(b))
        nxt.setdefault(int(b), []).append(int(a))
    if any(len(v) != 2 for v in nxt.values()):
        raise FemeitError(f"sensor.file: the boundary of {path} is not a simple closed curve")
    start = int(edges[0, 0])
    loop, previous, node = [start], -1, start
    while True:
        a, b = nxt[node]
        previous, node = node, (b if a == previous else a)
        if node == start:
            break
        loop.append(node)
    if len(loop) != len(nxt):
        raise FemeitError(
            f"sensor.file: {path} has {len(nxt) - len(loop)} boundary nodes off its outer boundary "
            "(holes or separate pieces); datasets need a mesh of one simply connected region"
        )
    return np.asarray(loop)
