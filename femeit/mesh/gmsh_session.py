"""A thin layer over the gmsh API: sessions, size fields and mesh extraction.

gmsh keeps global state, so every use goes through :func:`gmsh_session`, which
starts gmsh if needed, creates a fresh model, applies the options femeit relies
on (quiet, single-threaded for byte-identical output) and removes the model
afterwards.  :func:`extract_groups` reads a meshed model's physical groups into
numpy arrays: the one place that knows gmsh's element type codes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import gmsh
import numpy as np

from femeit.errors import MeshingError

# gmsh element type codes (gmsh reference manual, "MSH file format").
GMSH_POINT, GMSH_LINE, GMSH_TRIANGLE, GMSH_TETRAHEDRON = 15, 1, 2, 4
SIMPLEX_TYPE = {0: GMSH_POINT, 1: GMSH_LINE, 2: GMSH_TRIANGLE, 3: GMSH_TETRAHEDRON}


@contextlib.contextmanager
def gmsh_session(name: str = "femeit") -> Iterator[None]:
    """Run gmsh calls on a fresh model, with femeit's options, and clean up.

    gmsh is initialised without its signal handler (``interruptible=False``) so
    that Ctrl-C reaches Python, and runs on one thread so that a spec always
    gives the same mesh.
    """
    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.Verbosity", 2)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads1D", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads2D", 1)
        gmsh.option.setNumber("Mesh.MaxNumThreads3D", 1)
        gmsh.model.add(name)
        try:
            yield
        finally:
            gmsh.model.remove()
    finally:
        if started:
            gmsh.finalize()


def use_size_fields_only() -> None:
    """Let the background size field alone decide element sizes."""
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)


def distance_threshold(
    entities: dict[str, Sequence[int]],
    size_near: float,
    size_far: float,
    dist_near: float,
    dist_far: float,
    sampling: int = 40,
) -> int:
    """A size field that grows from ``size_near`` to ``size_far`` with distance.

    Parameters
    ----------
    entities : dict
        gmsh Distance-field keys (``PointsList``, ``CurvesList``, ``SurfacesList``)
        mapped to entity tags.
    size_near, size_far : float
        Element size within ``dist_near`` and beyond ``dist_far`` of the entities, m.
    dist_near, dist_far : float
        Distances where the size starts and stops growing, m.
    sampling : int
        Points per curve or surface side used to compute distances.

    Returns
    -------
    int
        The tag of the Threshold field.
    """
    dist = gmsh.model.mesh.field.add("Distance")
    for key, tags in entities.items():
        gmsh.model.mesh.field.setNumbers(dist, key, list(tags))
    gmsh.model.mesh.field.setNumber(dist, "Sampling", sampling)
    thr = gmsh.model.mesh.field.add("Threshold")
    gmsh.model.mesh.field.setNumber(thr, "InField", dist)
    gmsh.model.mesh.field.setNumber(thr, "SizeMin", size_near)
    gmsh.model.mesh.field.setNumber(thr, "SizeMax", size_far)
    gmsh.model.mesh.field.setNumber(thr, "DistMin", dist_near)
    gmsh.model.mesh.field.setNumber(thr, "DistMax", dist_far)
    return thr


def minimum_field(fields: Sequence[int]) -> None:
    """Use the pointwise minimum of ``fields`` as the background mesh size."""
    if len(fields) == 1:
        gmsh.model.mesh.field.setAsBackgroundMesh(fields[0])
        return
    mn = gmsh.model.mesh.field.add("Min")
    gmsh.model.mesh.field.setNumbers(mn, "FieldsList", list(fields))
    gmsh.model.mesh.field.setAsBackgroundMesh(mn)


def mesh_tank_3d(electrode_faces: Sequence[int], inclusion_volumes: Sequence[int], sizes, what: str) -> None:
    """Size fields of a 3D tank, then mesh it (cylinder and extruded-outline tanks alike).

    The mesh size is ``h_el`` on the electrode faces and their edges and
    ``h_inc`` on the inclusions' faces, growing to ``h`` within ``3 h``;
    Delaunay in 3D after the Frontal-Delaunay surface mesh.

    Parameters
    ----------
    electrode_faces : sequence of int
        gmsh surface tags of every electrode.
    inclusion_volumes : sequence of int
        gmsh volume tags of every inclusion (may be empty).
    sizes : (float, float, float)
        ``(h, h_el, h_inc)``, m.
    what : str
        What is meshed, for the error message if gmsh fails.
    """
    h, h_el, h_inc = sizes
    use_size_fields_only()
    faces = [int(s) for s in electrode_faces]
    edges = sorted({abs(c) for _, c in gmsh.model.getBoundary([(2, s) for s in faces], combined=False, oriented=False)})
    fields = [distance_threshold({"SurfacesList": faces, "CurvesList": edges}, h_el, h, h_el, 3 * h)]
    if len(inclusion_volumes):
        boundary = gmsh.model.getBoundary([(3, v) for v in inclusion_volumes], oriented=False)
        fields.append(distance_threshold({"SurfacesList": [abs(t) for _, t in boundary]}, h_inc, h, h_inc, 3 * h))
    minimum_field(fields)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)
    generate(3, what)


def generate(dim: int, what: str) -> None:
    """Mesh the current model in ``dim`` dimensions; gmsh failures become MeshingError."""
    try:
        gmsh.model.mesh.generate(dim)
    except Exception as exc:  # gmsh raises a bare Exception with its log message
        raise MeshingError(f"gmsh could not mesh {what}: {exc}") from None
    if len(gmsh.model.mesh.getElementsByType(SIMPLEX_TYPE[dim])[0]) == 0:
        others = [str(gmsh.model.mesh.getElementProperties(t)[0]) for t in gmsh.model.mesh.getElementTypes(dim)]
        if others:  # e.g. a .geo that recombines into quadrilaterals
            raise MeshingError(
                f"gmsh made only {', '.join(others)} elements for {what}; femeit needs linear "
                f"{'triangles' if dim == 2 else 'tetrahedra'} (remove Recombine and set Mesh.ElementOrder = 1)"
            )
        raise MeshingError(f"gmsh produced no {dim}D elements for {what}")


@dataclass
class MeshGroups:
    """A meshed model's physical groups as numpy arrays (0-based node indices).

    Attributes
    ----------
    points : ndarray, shape (n_nodes, dim)
        Node coordinates, m.
    regions : dict[str, ndarray]
        Top-dimensional group name -> elements, shape (n, dim + 1).
    facets : dict[str, ndarray]
        (dim - 1)-dimensional group name -> facets, shape (n, dim).
    nodes : dict[str, ndarray]
        0-dimensional group name -> node indices, shape (n,).
    """

    points: np.ndarray
    regions: dict[str, np.ndarray]
    facets: dict[str, np.ndarray]
    nodes: dict[str, np.ndarray]


def extract_groups(dim: int | None = None) -> MeshGroups:
    """Read the current gmsh model's mesh, grouped by physical-group name.

    Only nodes used by a top-dimensional element are kept, renumbered 0..n-1 in
    the order of gmsh's node tags, so that writing and reading a mesh preserves it.
    """
    if dim is None:
        dim = gmsh.model.getDimension()
    tags, coords, _ = gmsh.model.mesh.getNodes()
    tags = np.asarray(tags, dtype=np.int64)
    coords = np.asarray(coords).reshape(-1, 3)

    def elements_of(group_dim: int, tag: int) -> np.ndarray:
        blocks = []
        for entity in gmsh.model.getEntitiesForPhysicalGroup(group_dim, tag):
            _, node_tags = gmsh.model.mesh.getElementsByType(SIMPLEX_TYPE[group_dim], int(entity))
            blocks.append(np.asarray(node_tags, dtype=np.int64).reshape(-1, group_dim + 1))
        return np.concatenate(blocks) if blocks else np.empty((0, group_dim + 1), dtype=np.int64)

    raw: dict[int, dict[str, np.ndarray]] = {0: {}, dim - 1: {}, dim: {}}
    for group_dim, tag in gmsh.model.getPhysicalGroups():
        if group_dim in raw:
            name = gmsh.model.getPhysicalName(group_dim, tag) or f"physical_{group_dim}d_{tag}"
            raw[group_dim][name] = elements_of(group_dim, tag)

    used_tags = np.unique(np.concatenate([e.ravel() for e in raw[dim].values()] or [np.empty(0, np.int64)]))
    lookup = np.full(tags.max(initial=0) + 1, -1, dtype=np.int64)
    lookup[tags] = np.arange(len(tags))
    keep = lookup[used_tags]
    new_index = np.full(len(tags), -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))

    def renumber(node_tags: np.ndarray) -> np.ndarray:
        return new_index[lookup[node_tags]]

    return MeshGroups(
        points=coords[keep, :dim].copy(),
        regions={k: renumber(v) for k, v in raw[dim].items()},
        facets={k: renumber(v) for k, v in raw[dim - 1].items()} if dim > 1 else {},
        nodes={k: renumber(v[:, 0]) for k, v in raw[0].items()} if dim > 0 else {},
    )
