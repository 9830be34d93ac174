"""EITMesh: a finite-element mesh with named electrodes and regions.

The physical-group contract (shared by the builders, user ``.geo``/``.msh``
files and meshes imported from other tools):

* top-dimensional groups are regions; ``domain`` is required, the others
  (``inclusion_*`` by convention) are optional; every element belongs to exactly one;
* electrodes are (dim - 1)-dimensional groups, or 0-dimensional groups of one
  node for point electrodes, named ``e01``..``eNN`` with no gaps (EIDORS-style
  ``electrode-1``.. names are accepted too); every electrode facet lies on the
  outer boundary.

A mesh that breaks the contract raises :class:`~femeit.errors.MeshContractError`
naming what is wrong.  Node indices are 0-based everywhere in the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import skfem

from femeit.errors import MeshContractError
from femeit.mesh.checks import check_duplicates, check_imported, region_indices

if TYPE_CHECKING:
    from femeit.mesh.gmsh_session import MeshGroups

_ELECTRODE_NAME = re.compile(r"^e(\d+)$")
_EIDORS_NAME = re.compile(r"^electrode-(\d+)$")


@dataclass(frozen=True, eq=False)
class Electrode:
    """One electrode of an :class:`EITMesh`.

    Attributes
    ----------
    name : str
        ``e01``..``eNN``.
    facets : ndarray of int, shape (n_facets, dim)
        Boundary facets (edges in 2D, triangles in 3D) covered by the electrode,
        as node indices; empty, shape (0, dim), for a point electrode.
    node : int
        The node of a point electrode, ``-1`` otherwise.
    size : float
        Length (2D, m) or area (3D, m^2) of the electrode surface; 0 for a point electrode.
    centre : ndarray, shape (dim,)
        Size-weighted centroid of the electrode's facets (or the node position), m.
    """

    name: str
    facets: np.ndarray
    node: int
    size: float
    centre: np.ndarray

    @property
    def is_point(self) -> bool:
        """True for a point electrode (a single mesh node)."""
        return self.node >= 0


def facet_measures(points: np.ndarray, facets: np.ndarray) -> np.ndarray:
    """Length (2D) or area (3D) of each facet.

    Parameters
    ----------
    points : ndarray, shape (n_nodes, dim)
    facets : ndarray of int, shape (n_facets, dim)

    Returns
    -------
    ndarray, shape (n_facets,)
    """
    x = points[facets]
    if facets.shape[1] == 2:
        return np.linalg.norm(x[:, 1] - x[:, 0], axis=1)
    return 0.5 * np.linalg.norm(np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]), axis=1)


def element_measures(points: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """Area (triangles) or volume (tetrahedra) of each element, shape (n_elements,)."""
    x = points[elements]
    edges = x[:, 1:] - x[:, :1]  # (n_elements, dim, dim): one edge vector per row
    factor = 2.0 if elements.shape[1] == 3 else 6.0
    return np.abs(np.linalg.det(edges)) / factor


def _degenerate(points: np.ndarray, elements: np.ndarray) -> np.ndarray:
    """Whether each element is flat: its measure below 1e-10 of its longest edge to the power dim.

    Judged per element, not against the whole mesh: a half-space mesh 600 m
    wide has sound 5 cm tetrahedra near a small sphere (1e-6 m^3, a fifteenth of
    a regular one's), which a threshold of 1e-14 of the bounding box's volume
    (2.3e-6 m^3) refused.  A regular triangle has 0.43 of the square of its edge,
    a regular tetrahedron 0.12 of the cube.
    """
    dim = elements.shape[1] - 1
    x = points[elements]
    longest = np.zeros(len(elements))
    for a in range(dim + 1):
        for b in range(a + 1, dim + 1):
            np.maximum(longest, np.linalg.norm(x[:, a] - x[:, b], axis=1), out=longest)
    return element_measures(points, elements) <= 1e-10 * longest**dim


def boundary_facets(elements: np.ndarray) -> np.ndarray:
    """Facets that belong to exactly one element (the outer boundary), sorted node indices.

    Parameters
    ----------
    elements : ndarray of int, shape (n_elements, dim + 1)

    Returns
    -------
    ndarray of int, shape (n_boundary_facets, dim)
    """
    k = elements.shape[1]
    # Each facet of a simplex omits one of its vertices.
    faces = np.concatenate([np.delete(elements, i, axis=1) for i in range(k)])
    faces = np.sort(faces, axis=1)
    unique, counts = np.unique(faces, axis=0, return_counts=True)
    return unique[counts == 1]


def _facet_keys(facets: np.ndarray, n_nodes: int) -> np.ndarray:
    """A unique integer per facet (sorted nodes), for set operations on facets."""
    f = np.sort(facets, axis=1).astype(np.int64)
    key = np.zeros(len(f), dtype=np.int64)
    for col in range(f.shape[1]):
        key = key * n_nodes + f[:, col]
    return key


def facet_indices(mesh: skfem.Mesh, facets: np.ndarray, *, where: str = "mesh") -> np.ndarray:
    """Indices into scikit-fem's ``mesh.facets`` of facets given by their nodes, in the given order.

    Parameters
    ----------
    mesh : skfem.Mesh
    facets : ndarray of int, shape (n, dim)
        Node indices of each facet (any node order).
    where : str
        Names the facets in the error message.

    Returns
    -------
    ndarray of int, shape (n,)

    Raises
    ------
    MeshContractError
        When a facet is not a facet of the mesh.
    """
    n = mesh.p.shape[1]
    keys = _facet_keys(mesh.facets.T, n)
    order = np.argsort(keys)
    wanted = _facet_keys(facets, n)
    pos = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    found = order[pos]
    if not np.array_equal(keys[found], wanted):
        raise MeshContractError(f"{where}: {int(np.sum(keys[found] != wanted))} facets are not facets of the mesh")
    return found


def _canonical_electrode_names(names: Sequence[str], where: str) -> dict[str, str]:
    """Map given electrode group names to ``eNN``; check numbering has no gaps."""
    numbers: dict[int, str] = {}
    for name in names:
        m = _ELECTRODE_NAME.match(name) or _EIDORS_NAME.match(name)
        if m:
            n = int(m.group(1))
            if n in numbers:
                raise MeshContractError(f"{where}: electrode {n} is defined twice ({numbers[n]!r} and {name!r})")
            numbers[n] = name
    if not numbers:
        raise MeshContractError(f"{where}: no electrode groups found; name them e01..eNN (or electrode-1..electrode-N)")
    if 0 in numbers:
        raise MeshContractError(
            f"{where}: electrode {numbers[0]!r} is numbered 0; electrodes are numbered from 1 (e01..eNN)"
        )
    expected = set(range(1, max(numbers) + 1))
    missing = sorted(expected - set(numbers))
    if missing or min(numbers) != 1:
        raise MeshContractError(
            f"{where}: electrode numbering has gaps: missing {[f'e{m:02d}' for m in missing]} (found {sorted(numbers)})"
        )
    width = max(2, len(str(max(numbers))))
    return {numbers[n]: f"e{n:0{width}d}" for n in sorted(numbers)}


@dataclass(frozen=True, eq=False)
class EITMesh:
    """A P1 simplex mesh (triangles or tetrahedra) with electrodes and regions.

    Build one with :func:`femeit.geometry.mesh_from_spec`, :func:`femeit.mesh.read_mesh`
    or :meth:`from_arrays`; the constructor takes already-checked arrays.

    Attributes
    ----------
    mesh : skfem.MeshTri or skfem.MeshTet
        The scikit-fem mesh; ``mesh.p`` is (dim, n_nodes), ``mesh.t`` is (dim + 1, n_elements).
    electrodes : tuple of Electrode
        In electrode order (index 0 is ``e01``).
    region_names : tuple of str
        Region names; ``region_names[0]`` is ``domain``.
    element_region : ndarray of int, shape (n_elements,)
        Index into ``region_names`` of each element.
    spec : geometry spec or None
        The geometry spec the mesh was built from, if any.
    info : dict
        How the mesh was made: ``source``, ``seconds``, ``cache_hit``.
    """

    mesh: skfem.Mesh
    electrodes: tuple[Electrode, ...]
    region_names: tuple[str, ...]
    element_region: np.ndarray
    spec: Any = None
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ views
    @property
    def dim(self) -> int:
        """Spatial dimension, 2 or 3."""
        return int(self.mesh.p.shape[0])

    @property
    def points(self) -> np.ndarray:
        """Node coordinates, shape (n_nodes, dim), m."""
        return self.mesh.p.T

    @property
    def elements(self) -> np.ndarray:
        """Element connectivity, shape (n_elements, dim + 1), 0-based node indices."""
        return self.mesh.t.T

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.mesh.p.shape[1])

    @property
    def n_elements(self) -> int:
        """Number of elements."""
        return int(self.mesh.t.shape[1])

    @property
    def n_electrodes(self) -> int:
        """Number of electrodes."""
        return len(self.electrodes)

    def region(self, name: str) -> np.ndarray:
        """Indices of the elements of region ``name``, shape (n,)."""
        if name not in self.region_names:
            raise KeyError(f"no region {name!r}; the mesh has {list(self.region_names)}")
        return self.mesh.subdomains[name]

    def electrode_facets(self, index: int) -> np.ndarray:
        """Indices into scikit-fem's ``mesh.facets`` of electrode ``index`` (0-based), shape (n_facets,).

        Empty for a point electrode.
        """
        e = self.electrodes[index]
        return np.empty(0, dtype=np.int64) if e.is_point else self.mesh.boundaries[e.name]

    def element_measures(self) -> np.ndarray:
        """Area (2D, m^2) or volume (3D, m^3) of each element, shape (n_elements,)."""
        return element_measures(self.points, self.elements)

    def measure(self) -> float:
        """Total area (2D, m^2) or volume (3D, m^3) of the mesh."""
        return float(self.element_measures().sum())

    def summary(self) -> str:
        """A human-readable description: counts, electrode sizes, build info."""
        unit = "m" if self.dim == 2 else "m^2"
        lines = [
            f"EITMesh {self.dim}D: {self.n_nodes} nodes, {self.n_elements} "
            f"{'triangles' if self.dim == 2 else 'tetrahedra'}, {self.n_electrodes} electrodes",
            "regions: "
            + ", ".join(f"{n} ({int(np.sum(self.element_region == i))})" for i, n in enumerate(self.region_names)),
            f"{'area' if self.dim == 2 else 'volume'}: {self.measure():.6g} {'m^2' if self.dim == 2 else 'm^3'}",
        ]
        for e in self.electrodes:
            where = ", ".join(f"{c:.4g}" for c in e.centre)
            kind = "point" if e.is_point else f"{'length' if self.dim == 2 else 'area'} {e.size:.6g} {unit}"
            lines.append(f"  {e.name}: {kind}, centre ({where})")
        if self.info:
            lines.append(
                f"source: {self.info.get('source', '?')}, {self.info.get('seconds', float('nan')):.3f} s"
                + (", cache hit" if self.info.get("cache_hit") else "")
            )
        return "\n".join(lines)

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_groups(cls, groups: MeshGroups, *, where: str, spec: Any = None) -> EITMesh:
        """Build from physical groups read from gmsh, enforcing the contract."""
        if "domain" not in groups.regions or len(groups.regions["domain"]) == 0:
            raise MeshContractError(
                f"{where}: no elements in a physical group named 'domain' (found regions {sorted(groups.regions)})"
            )
        region_names = ["domain", *sorted(n for n in groups.regions if n != "domain")]
        elements = np.concatenate([groups.regions[n] for n in region_names])
        element_region = np.concatenate(
            [np.full(len(groups.regions[n]), i, dtype=np.int32) for i, n in enumerate(region_names)]
        )
        candidates = list(groups.facets) + list(groups.nodes)
        names = _canonical_electrode_names(candidates, where)
        electrodes = []
        for given, canonical in names.items():
            if given in groups.facets:
                electrodes.append((canonical, groups.facets[given], None))
            else:
                nodes = groups.nodes[given]
                if len(nodes) != 1:
                    raise MeshContractError(
                        f"{where}: point electrode {given!r} must be exactly one node, got {len(nodes)}"
                    )
                electrodes.append((canonical, None, int(nodes[0])))
        return cls.from_parts(
            points=groups.points,
            elements=elements,
            element_region=element_region,
            region_names=tuple(region_names),
            electrodes=electrodes,
            spec=spec,
            where=where,
        )

    @classmethod
    def from_arrays(
        cls,
        nodes: np.ndarray,
        elements: np.ndarray,
        electrodes: Sequence[np.ndarray | Sequence[int]],
        regions: Mapping[str, np.ndarray] | None = None,
    ) -> EITMesh:
        """Build from plain arrays, e.g. a mesh made by EIDORS, pyEIT or another tool.

        Parameters
        ----------
        nodes : array_like, shape (n_nodes, dim)
            Node coordinates, m (dim 2 or 3).
        elements : array_like of int, shape (n_elements, dim + 1)
            Triangles or tetrahedra, 0-based node indices.
        electrodes : sequence
            One entry per electrode, in electrode order.  A 1D array of node indices
            means, as in EIDORS, every boundary facet whose nodes all belong to the
            list (one node: a point electrode).  A 2D array of shape (n, dim) gives
            the electrode's boundary facets explicitly.
        regions : mapping str -> element indices, optional
            Named regions; elements not listed belong to ``domain``.

        Raises
        ------
        MeshContractError
            On bad shapes, out-of-range indices, degenerate elements, overlapping
            regions, or an electrode that is empty or not on the boundary.
        """
        points = np.asarray(nodes, dtype=float)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise MeshContractError(f"nodes must have shape (n_nodes, 2) or (n_nodes, 3), got {points.shape}")
        if not np.all(np.isfinite(points)):
            raise MeshContractError("nodes contain NaN or infinite coordinates")
        dim = points.shape[1]
        elems = np.asarray(elements)
        if elems.ndim != 2 or elems.shape[1] != dim + 1 or not np.issubdtype(elems.dtype, np.integer):
            raise MeshContractError(
                f"elements must be integers of shape (n_elements, {dim + 1}) for {dim}D nodes, "
                f"got {elems.dtype} {elems.shape}"
            )
        element_region = np.zeros(len(elems), dtype=np.int32)
        region_names = ["domain"]
        for name, idx in (regions or {}).items():
            if name == "domain":
                continue
            idx = region_indices(name, idx, len(elems))
            if idx.size and (idx.min() < 0 or idx.max() >= len(elems)):
                raise MeshContractError(f"region {name!r} lists element indices outside 0..{len(elems) - 1}")
            if np.any(element_region[idx] != 0):
                raise MeshContractError(f"region {name!r} overlaps another region")
            region_names.append(name)
            element_region[idx] = len(region_names) - 1
        if len(electrodes) == 0:
            raise MeshContractError("from_arrays needs at least one electrode")
        if elems.size and elems.min() >= 0 and elems.max() < len(points):
            check_duplicates(elems, "from_arrays")
        width = max(2, len(str(len(electrodes))))
        boundary = None
        parsed = []
        for k, entry in enumerate(electrodes):
            name = f"e{k + 1:0{width}d}"
            arr = np.asarray(entry)
            if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
                raise MeshContractError(f"electrode {k} ({name}) must be a non-empty integer array")
            if arr.size and (arr.min() < 0 or arr.max() >= len(points)):
                raise MeshContractError(f"electrode {k} ({name}) names nodes outside 0..{len(points) - 1}")
            if arr.ndim == 2:
                parsed.append((name, arr, None))
            elif arr.size == 1:
                parsed.append((name, None, int(arr.ravel()[0])))
            else:
                if boundary is None:
                    boundary = boundary_facets(elems)
                inside = np.isin(boundary, arr).all(axis=1)
                if not inside.any():
                    raise MeshContractError(
                        f"electrode {k} ({name}): no boundary facet has all its nodes in the node list"
                    )
                parsed.append((name, boundary[inside], None))
        return cls.from_parts(
            points=points,
            elements=elems,
            element_region=element_region,
            region_names=tuple(region_names),
            electrodes=parsed,
            where="from_arrays",
        )

    @classmethod
    def from_parts(
        cls,
        *,
        points: np.ndarray,
        elements: np.ndarray,
        element_region: np.ndarray,
        region_names: tuple[str, ...],
        electrodes: Sequence[tuple[str, np.ndarray | None, int | None]],
        spec: Any = None,
        where: str = "mesh",
        check: bool = True,
    ) -> EITMesh:
        """Build from already-parsed parts: the one constructor every reader ends in.

        Parameters
        ----------
        points : ndarray, shape (n_nodes, dim)
            Node coordinates, m.
        elements : ndarray of int, shape (n_elements, dim + 1)
            0-based node indices.
        element_region : ndarray of int, shape (n_elements,)
            Index into ``region_names`` of each element.
        region_names : tuple of str
            Starts with ``domain``.
        electrodes : sequence of (name, facets or None, node or None)
            Facet electrodes give an (n_facets, dim) node array, point electrodes one node.
        spec : geometry spec, optional
            Kept on the mesh for provenance.
        where : str
            Names the source in error messages.
        check : bool
            Check the contract (skipped for trusted input such as the mesh cache).

        Returns
        -------
        EITMesh
            Electrode facets are mirrored into scikit-fem's ``mesh.boundaries`` and
            regions into ``mesh.subdomains``, both keyed by name.
        """
        points = np.ascontiguousarray(points, dtype=float)
        elements = np.ascontiguousarray(elements, dtype=np.int64)
        dim = points.shape[1]
        n = len(points)
        if check:
            if elements.size == 0:
                raise MeshContractError(f"{where}: the mesh has no elements")
            if elements.min() < 0 or elements.max() >= n:
                raise MeshContractError(f"{where}: elements refer to nodes outside 0..{n - 1}")
            check_duplicates(elements, where)
            degenerate = int(np.count_nonzero(_degenerate(points, elements)))
            if degenerate:
                raise MeshContractError(
                    f"{where}: {degenerate} degenerate (zero-measure) elements"
                )
            boundary_keys = _facet_keys(boundary_facets(elements), n)
            boundary_nodes = np.zeros(n, dtype=bool)
        built = []
        for name, facets, node in electrodes:
            if node is not None:
                if check:
                    if node < 0:
                        raise MeshContractError(f"{where}: point electrode {name} is not a node of any element")
                    if not boundary_nodes.any():
                        boundary_nodes[np.unique(boundary_facets(elements))] = True
                    if not boundary_nodes[node]:
                        raise MeshContractError(f"{where}: point electrode {name} (node {node}) is not on the boundary")
                built.append(Electrode(name, np.empty((0, dim), dtype=np.int64), int(node), 0.0, points[node].copy()))
                continue
            facets = np.ascontiguousarray(facets, dtype=np.int64)
            if check:
                if facets.ndim != 2 or facets.shape[1] != dim or len(facets) == 0:
                    raise MeshContractError(f"{where}: electrode {name} has no facets of {dim} nodes")
                if facets.min() < 0 or facets.max() >= n:
                    raise MeshContractError(f"{where}: electrode {name} refers to nodes that no element uses")
                on_boundary = np.isin(_facet_keys(facets, n), boundary_keys)
                if not on_boundary.all():
                    raise MeshContractError(
                        f"{where}: {int(np.sum(~on_boundary))} facets of electrode {name} are not on the outer boundary"
                    )
            sizes = facet_measures(points, facets)
            centre = (points[facets].mean(axis=1) * sizes[:, None]).sum(axis=0) / sizes.sum()
            built.append(Electrode(name, facets, -1, float(sizes.sum()), centre))
        if check:
            check_imported(points, elements, built, where)
        if len(region_names) != len(set(region_names)) or region_names[0] != "domain":
            raise MeshContractError(f"{where}: region names must be unique and start with 'domain': {region_names}")
        mesh_cls = skfem.MeshTri if dim == 2 else skfem.MeshTet
        mesh = mesh_cls(np.ascontiguousarray(points.T), np.ascontiguousarray(elements.T))
        element_region = np.asarray(element_region, dtype=np.int32)
        # Named groups are stored once here and mirrored into scikit-fem, so
        # assembly code asks ``mesh.boundaries[name]`` instead of re-deriving facets.
        mesh = mesh.with_boundaries(
            {e.name: facet_indices(mesh, e.facets, where=f"{where}: {e.name}") for e in built if not e.is_point}
        ).with_subdomains({r: np.flatnonzero(element_region == i) for i, r in enumerate(region_names)})
        return cls(
            mesh=mesh,
            electrodes=tuple(built),
            region_names=tuple(region_names),
            element_region=element_region,
            spec=spec,
        )
