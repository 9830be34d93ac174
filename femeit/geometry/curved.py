"""Second-order (curved, isoparametric) geometry on quadric surfaces: spheres, ellipsoids, vertical cylinders.

A mesh from gmsh is made of flat simplices, so a sphere (or circle, or
cylinder wall) is represented by a polyhedron inscribed in it whose volume falls
short of the true one (meshed / true volume 0.995 for a sphere at h = 0.07 r).
For a buried inclusion that volume deficit dominates the error of the anomaly,
long before the field's discretisation error does; on a tank's wall it shrinks
the electrodes.  :func:`curved_mesh` turns a mesh into its second-order version
(scikit-fem ``MeshTri2`` / ``MeshTet2``: one extra node per edge) and moves the
mid-edge node of every edge on a curved surface onto that surface.  Each element
then maps its reference element through quadratic shape functions, so with P2
fields the discretisation is isoparametric (Ciarlet & Raviart, "The combined
effect of curved boundaries and numerical integration in isoparametric finite
element methods", in *The Mathematical Foundations of the Finite Element
Method*, Academic Press 1972, pp. 409-474): the geometric error falls from
O(h^2) to O(h^3) and no longer limits P2's accuracy.

The surfaces are known exactly from the geometry spec (:func:`spec_surfaces`),
so the mid-edge nodes are placed on the exact surface, as gmsh's
``Mesh.ElementOrder = 2`` would place them on the CAD surface; the vertices
already lie on it.  Each surface is a quadric ``|M (x - c)| = 1``
(:class:`QuadricSurface`), and a mid node ``p`` is moved along the ray from the
centre (from the axis, for a cylinder): ``c + (p - c) / |M (p - c)|``, a point
of the surface within O(h^2) of the chord's midpoint, which is all the
quadratic map needs.  Outlines (``ContourSpec``, ``ExtrudedSpec``), boxes
and prisms are left as meshed (a polygon's sides are straight already; a
smooth outline is meshed by gmsh as a spline whose exact curve is gmsh's own).
Every curved element's map is checked afterwards: an element that moving its
mid nodes would fold keeps its edges straight (with a warning), never a
negative Jacobian that would silently corrupt its stiffness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import skfem

from femeit.errors import FemeitError, warn
from femeit.mesh import EITMesh

# A vertex is on a surface when |M (x - c)| differs from 1 by less than this
# (gmsh places surface nodes to rounding).
ON_SURFACE_RTOL = 1e-7
# A curved element is kept when its Jacobian determinant, at every sample point,
# is at least this fraction of its straight element's (1 for an uncurved element).
# Below it the element is nearly folded (or folded: negative), and its stiffness
# would be wrong; sound curved elements measured 0.49-0.91 on 25 generated specs of five kinds.
MIN_JACOBIAN_RATIO = 0.1
# Elements whose Jacobians are sampled at once (bounds the temporaries to ~40 MB).
_JACOBIAN_CHUNK = 20_000


@dataclass(frozen=True)
class QuadricSurface:
    """The surface ``|M (x - c)| = 1``: a sphere, ellipsoid, circle, ellipse or vertical cylinder.

    Parameters
    ----------
    centre : ndarray, shape (dim,)
        Centre ``c``, m (for a vertical cylinder, any point of its axis).
    matrix : ndarray, shape (dim, dim)
        ``M``, 1/m: its rows map ``x - c`` to the unit sphere's coordinates.
        A vertical cylinder has a zero last column (z is free along the axis).
    name : str
        What the surface is, for messages.

    Use the constructors :meth:`sphere`, :meth:`ellipsoid`, :meth:`ellipse` and
    :meth:`vertical_cylinder`.
    """

    centre: np.ndarray
    matrix: np.ndarray
    name: str = "surface"

    def __post_init__(self) -> None:
        centre = np.asarray(self.centre, dtype=float).ravel()
        matrix = np.asarray(self.matrix, dtype=float)
        dim = len(centre)
        if dim not in (2, 3) or matrix.shape != (dim, dim):
            raise FemeitError(
                f"a quadric surface needs a centre of 2 or 3 coordinates and a square matrix of that size, "
                f"got centre shape {np.shape(self.centre)}, matrix shape {matrix.shape}"
            )
        if not (np.all(np.isfinite(centre)) and np.all(np.isfinite(matrix))):
            raise FemeitError(f"the {self.name} has a non-finite centre or matrix: {centre}, {matrix.tolist()}")
        # Full rank, or (a cylinder along z) rank dim - 1 with a zero z column: else |M (x - c)| = 1
        # is no closed surface, and projecting onto it divides by zero.
        axial = dim == 3 and not np.any(matrix[:, 2])
        if np.linalg.matrix_rank(matrix[:, :2] if axial else matrix) < (2 if axial else dim):
            raise FemeitError(f"the {self.name}'s matrix {matrix.tolist()} is singular: no closed surface")
        object.__setattr__(self, "centre", centre)
        object.__setattr__(self, "matrix", matrix)

    @property
    def dim(self) -> int:
        return len(self.centre)

    @property
    def axial(self) -> bool:
        """Whether the surface is a cylinder along z (its caps, flat at constant z, are not curved)."""
        return self.dim == 3 and not np.any(self.matrix[:, 2])

    @classmethod
    def sphere(cls, centre: Sequence[float], radius: float) -> QuadricSurface:
        """A sphere (3D) or circle (2D) of ``radius`` m about ``centre`` (dim coordinates)."""
        centre = np.asarray(centre, dtype=float).ravel()
        radius = float(radius)
        if centre.shape not in ((2,), (3,)) or not np.all(np.isfinite(centre)) or not 0 < radius < np.inf:
            raise FemeitError(
                f"a sphere needs a centre of 2 or 3 finite coordinates and a positive radius, "
                f"got centre {centre}, radius {radius}"
            )
        return cls(centre, np.eye(len(centre)) / radius, f"sphere of centre {centre} and radius {radius:g}")

    @classmethod
    def ellipsoid(cls, centre: Sequence[float], axes: Sequence[float]) -> QuadricSurface:
        """An axis-aligned ellipsoid with semi-axes ``axes`` = (a, b, c) along x, y, z, m."""
        centre = np.asarray(centre, dtype=float).ravel()
        axes = np.asarray(axes, dtype=float).ravel()
        if (
            centre.shape != (3,)
            or axes.shape != (3,)
            or not np.all((axes > 0) & (axes < np.inf))
            or not np.all(np.isfinite(centre))
        ):
            raise FemeitError(f"an ellipsoid needs a 3D centre and three positive semi-axes, got {centre}, {axes}")
        return cls(centre, np.diag(1.0 / axes), f"ellipsoid of centre {centre} and semi-axes {axes}")

    @classmethod
    def ellipse(cls, centre: Sequence[float], a: float, b: float, angle_deg: float = 0.0) -> QuadricSurface:
        """A 2D ellipse: semi-axis ``a`` along the direction ``angle_deg`` (from x, counter-clockwise), ``b`` across."""
        centre = np.asarray(centre, dtype=float).ravel()
        if (
            centre.shape != (2,)
            or not (0 < a < np.inf and 0 < b < np.inf and np.isfinite(angle_deg))
            or not np.all(np.isfinite(centre))
        ):
            raise FemeitError(
                f"an ellipse needs a 2D centre, finite positive semi-axes and a finite angle, "
                f"got {centre}, a={a}, b={b}, angle_deg={angle_deg}"
            )
        t = np.radians(angle_deg)
        rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])  # x -> the ellipse's own axes
        return cls(
            centre, np.diag([1.0 / a, 1.0 / b]) @ rotation, f"ellipse of centre {centre}, semi-axes {a:g}, {b:g}"
        )

    @classmethod
    def vertical_cylinder(cls, x: float, y: float, a: float, b: float | None = None) -> QuadricSurface:
        """The wall of a cylinder along z with axis at (x, y), m: radius ``a``, or semi-axes ``a`` (x) and ``b`` (y)."""
        b = a if b is None else b
        if not (0 < a < np.inf and 0 < b < np.inf) or not np.all(np.isfinite([x, y])):
            raise FemeitError(f"a cylinder needs a finite axis and positive radii, got x={x}, y={y}, a={a}, b={b}")
        matrix = np.diag([1.0 / a, 1.0 / b, 0.0])
        shape = f"radius {a:g}" if a == b else f"semi-axes {a:g}, {b:g}"
        return cls(np.array([x, y, 0.0]), matrix, f"cylinder along z at ({x:g}, {y:g}), {shape}")

    def level(self, points: np.ndarray) -> np.ndarray:
        """``|M (x - c)|`` for points of shape (dim, n): 1 on the surface."""
        return np.linalg.norm(self.matrix @ (points - self.centre[:, None]), axis=0)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Points of shape (dim, n) moved onto the surface along the ray from the centre (from the axis)."""
        offset = points - self.centre[:, None]
        scale = 1.0 / self.level(points)
        moved = self.centre[:, None] + offset * scale
        if self.axial:
            moved[2] = points[2]  # along the axis nothing moves
        return moved


def spec_surfaces(spec) -> list[QuadricSurface]:
    """The curved quadric surfaces of a geometry spec (empty for specs without any).

    The ball's and disk's boundaries (and a ball's inner sphere), the wall of a
    :class:`~femeit.geometry.CylinderSpec`, and every spherical, ellipsoidal,
    circular, elliptic or vertical cylindrical inclusion (gmsh meshes these on
    the exact surfaces).  The outline of a ``ContourSpec`` or ``ExtrudedSpec``
    is not among them, even an ellipse: gmsh meshes it as a spline through
    points of the outline (within 1e-3 of the semi-axis at the tips of a 4:1
    ellipse), so its vertices are not on the exact curve; it stays as meshed.
    """
    surfaces: list[QuadricSurface] = []
    name = type(spec).__name__
    dim = getattr(spec, "dim", 3)
    if name in ("BallSpec", "CircleSpec"):
        surfaces.append(QuadricSurface.sphere(np.zeros(dim), spec.radius))
        if getattr(spec, "inner_radius", 0.0) > 0:
            surfaces.append(QuadricSurface.sphere(np.zeros(dim), spec.inner_radius))
    elif name == "CylinderSpec":
        surfaces.append(QuadricSurface.vertical_cylinder(0.0, 0.0, spec.radius))
    for inc in getattr(spec, "inclusions", ()):
        kind = type(inc).__name__
        if kind == "SphereInclusion":
            surfaces.append(QuadricSurface.sphere((inc.x, inc.y, inc.z), inc.radius))
        elif kind == "CircleInclusion":
            surfaces.append(QuadricSurface.sphere((inc.x, inc.y), inc.radius))
        elif kind == "EllipsoidInclusion":
            surfaces.append(QuadricSurface.ellipsoid((inc.x, inc.y, inc.z), (inc.a, inc.b, inc.c)))
        elif kind == "EllipseInclusion":
            surfaces.append(QuadricSurface.ellipse((inc.x, inc.y), inc.a, inc.b, inc.angle_deg))
        elif kind == "CylinderInclusion":
            surfaces.append(QuadricSurface.vertical_cylinder(inc.x, inc.y, inc.radius))
    return surfaces


def spec_spheres(spec) -> list[tuple[np.ndarray, float]]:
    """The spherical (3D) or circular (2D) surfaces of a geometry spec: [(centre, radius), ...].

    The ball's or disk's outer boundary, the ball's inner sphere, and every spherical or circular
    inclusion (``SphereInclusion``, ``CircleInclusion``); :func:`spec_surfaces` gives these and the
    other quadric surfaces (cylinders, ellipses, ellipsoids).
    """
    spheres = []
    for surface in spec_surfaces(spec):
        m = surface.matrix
        if not surface.axial and np.array_equal(m, m[0, 0] * np.eye(surface.dim)):
            spheres.append((surface.centre.copy(), 1.0 / m[0, 0]))
    return spheres


def _surface_facets(mesh: EITMesh) -> np.ndarray:
    """Facets on the outer boundary or between two regions, shape (n,)."""
    m = mesh.mesh
    f2t = m.f2t
    outer = f2t[1] < 0
    inner = ~outer
    between = np.zeros_like(outer)
    between[inner] = mesh.element_region[f2t[0, inner]] != mesh.element_region[f2t[1, inner]]
    return np.flatnonzero(outer | between)


def curved_mesh(
    mesh: EITMesh,
    spheres: Sequence[tuple[np.ndarray, float]] | None = None,
    *,
    surfaces: Sequence[QuadricSurface] | None = None,
) -> EITMesh:
    """The second-order version of ``mesh`` with its curved surfaces exact.

    Parameters
    ----------
    mesh : EITMesh
        A first-order mesh (from :func:`femeit.geometry.mesh_from_spec` or elsewhere).
    spheres : sequence of (centre, radius), optional
        Spheres (3D) or circles (2D), centre shape (dim,) in m, radius in m.
    surfaces : QuadricSurface or sequence of QuadricSurface, optional
        Any quadric surfaces (spheres, ellipsoids, ellipses, vertical cylinders).
        Default (neither given): those of ``mesh.spec`` (:func:`spec_surfaces`).

    Returns
    -------
    EITMesh
        Same vertices, elements, electrodes and regions; ``mesh.mesh`` is a
        scikit-fem ``MeshTet2``/``MeshTri2`` whose ``p`` (= ``doflocs``) holds the
        vertices followed by one node per edge (``mesh.points`` and ``n_nodes``
        count both).  Every edge of a facet that lies on one of the surfaces (on
        the outer boundary or between two regions) has its mid node on the
        surface; for a vertical cylinder, facets flat at one height (its caps,
        whose vertices lie on the rim) stay flat, and only the rim's own edges
        are curved, as edges of the wall.  :class:`femeit.forward.ForwardModel`
        on it integrates with the quadratic element maps (volumes, and the
        electrodes' areas on a curved wall); use ``order=2`` for an
        isoparametric model.  ``info["straight_surface_edges"]`` counts the
        surface edges left straight to keep elements unfolded (see Warns).

    Raises
    ------
    FemeitError
        If the mesh is already second order, a given surface has no facet on
        it, or an edge on a surface spans more than 120 degrees of it.

    Warns
    -----
    RuntimeWarning
        When neither ``spheres`` nor ``surfaces`` is given and the mesh's spec
        has no quadric surface (or the mesh has no spec, as an imported one):
        nothing would be curved.  ``surfaces=[]`` asks for that silently.
    RuntimeWarning
        Where the mesh is coarse against a surface's curvature (an element
        with several faces on a thin ellipsoid, say), moving mid nodes onto
        the surface can fold an element: its quadratic map's Jacobian
        determinant, sampled at the vertices, edge midpoints, centroid and
        degree-4 quadrature points, falls below ``MIN_JACOBIAN_RATIO`` of the
        straight element's somewhere.  Such elements' surface edges are left
        straight (the mesh stays conforming and every element valid, the
        surface inexact there), and the warning counts them per surface;
        meshing finer near the surface removes them.
    """
    if not isinstance(mesh, EITMesh):
        raise FemeitError(f"curved_mesh needs an EITMesh (from mesh_from_spec or read_mesh), got {type(mesh).__name__}")
    if not mesh.mesh.affine or isinstance(mesh.mesh, skfem.MeshTet2 | skfem.MeshTri2):
        raise FemeitError("the mesh is already second order")
    given = [surfaces] if isinstance(surfaces, QuadricSurface) else list(surfaces or ())
    if spheres is not None:
        given += [QuadricSurface.sphere(*_centre_radius(item)) for item in _pairs(spheres)]
    targets = given if (spheres is not None or surfaces is not None) else spec_surfaces(mesh.spec)
    if not targets and spheres is None and surfaces is None:
        source = "the mesh has no spec" if mesh.spec is None else f"its {type(mesh.spec).__name__} has none"
        warn(
            f"no curved surface to put the mid-edge nodes on ({source}): the mesh is returned second order "
            "with straight edges; pass surfaces=[QuadricSurface...] to curve an imported mesh",
            RuntimeWarning,
        )
    linear = mesh.mesh
    quadratic_type = skfem.MeshTri2 if mesh.dim == 2 else skfem.MeshTet2
    quadratic = quadratic_type.from_mesh(linear)
    doflocs = quadratic.doflocs.copy()
    n_vertices = linear.p.shape[1]
    doflocs[:, :n_vertices] = linear.p  # exactly, not through the element maps
    # Edges of the linear mesh and their mid-node columns (vertex dofs first, then one per edge).
    edges = linear.facets if mesh.dim == 2 else linear.edges
    edge_keys = edges.min(axis=0) * n_vertices + edges.max(axis=0)
    order = np.argsort(edge_keys)
    candidates = linear.facets[:, _surface_facets(mesh)]
    extent = float(np.ptp(linear.p, axis=1).max())
    surface_of = np.full(edges.shape[1], -1)  # per edge: the surface its mid node is on, or -1
    for index, surface in enumerate(targets):
        if not isinstance(surface, QuadricSurface):
            raise FemeitError(f"surfaces must be QuadricSurface objects, got {type(surface).__name__}")
        if surface.dim != mesh.dim:
            raise FemeitError(f"the {surface.name} is {surface.dim}D but the mesh is {mesh.dim}D")
        on_vertex = np.abs(surface.level(linear.p) - 1.0) < ON_SURFACE_RTOL
        facets = candidates[:, on_vertex[candidates].all(axis=0)]
        if surface.axial:  # a cap's facets are flat at one height: not the wall
            z = linear.p[2, facets]
            facets = facets[:, np.ptp(z, axis=0) > ON_SURFACE_RTOL * extent]
        if facets.shape[1] == 0:
            raise FemeitError(f"no facet of the mesh lies on the {surface.name}")
        pairs = np.concatenate([facets[[i, j]] for i in range(len(facets)) for j in range(i + 1, len(facets))], axis=1)
        keys = np.unique(pairs.min(axis=0) * n_vertices + pairs.max(axis=0))
        columns = n_vertices + order[np.searchsorted(edge_keys, keys, sorter=order)]
        # A chord's midpoint on a circle of the surface is at cos(angle / 2) of the way out: below
        # half way the edge spans more than 120 degrees, and moving it onto the surface folds elements.
        if np.any(surface.level(doflocs[:, columns]) < 0.5):
            raise FemeitError(
                f"the mesh is too coarse to curve the {surface.name}: an edge on it spans more than 120 degrees"
            )
        doflocs[:, columns] = surface.project(doflocs[:, columns])
        surface_of[columns - n_vertices] = index
    straightened = _unfold(linear, doflocs, edges, linear.t2e if mesh.dim == 3 else linear.t2f, surface_of)
    if straightened.any():
        names = ", ".join(
            f"{np.count_nonzero(straightened & (surface_of == i))} on the {targets[i].name}"
            for i in np.unique(surface_of[straightened])
        )
        warn(
            f"curving would fold or nearly fold elements where the mesh is coarse against a surface's curvature; "
            f"their edges on it are left straight ({names}): mesh finer there for the exact surface",
            RuntimeWarning,
        )
    curved = replace(quadratic, doflocs=doflocs, _boundaries=linear._boundaries, _subdomains=linear._subdomains)
    info = dict(mesh.info, curved_surfaces=len(targets), straight_surface_edges=int(straightened.sum()))
    return replace(mesh, mesh=curved, info=info)


def _pairs(spheres) -> list:
    """``spheres`` as a list, or a FemeitError when it is no sequence of (centre, radius) pairs."""
    if isinstance(spheres, str | bytes) or not hasattr(spheres, "__iter__"):
        raise FemeitError(f"spheres must be a sequence of (centre, radius) pairs, got {spheres!r}")
    return list(spheres)


def _centre_radius(item) -> tuple:
    """One (centre, radius) pair of ``spheres``, or a FemeitError naming what it got instead."""
    try:
        centre, radius = item
        return centre, float(radius)
    except (TypeError, ValueError):
        raise FemeitError(
            f"each of spheres must be a (centre, radius) pair, got {item!r}; "
            "for one sphere pass [(centre, radius)], or surfaces=[QuadricSurface.sphere(centre, radius)]"
        ) from None


def _unfold(
    linear: skfem.Mesh, doflocs: np.ndarray, edges: np.ndarray, element_edges: np.ndarray, surface_of: np.ndarray
) -> np.ndarray:
    """Move back to its chord's midpoint every curved edge of an element that curving folds; which edges moved back.

    ``doflocs``: the quadratic mesh's nodes (vertices, then one per edge of
    ``linear``), changed in place; ``edges``: the edges' vertices, shape (2,
    n_edges); ``element_edges``: each element's edges, shape (edges per
    element, n_elements); ``surface_of``: per edge, the surface its mid node
    was moved onto, or -1.  An element is folded when its Jacobian
    determinant falls below ``MIN_JACOBIAN_RATIO`` of its straight element's
    anywhere among the sample points (:func:`_jacobian_ratios`).  An edge moved
    back makes its elements closer to their straight, valid shapes, so the
    passes end (at worst with every edge straight, where every ratio is 1).
    """
    n_vertices = linear.p.shape[1]
    straightened = np.zeros(len(surface_of), dtype=bool)
    check = np.flatnonzero((surface_of[element_edges] >= 0).any(axis=0))
    while check.size:
        ratios = _jacobian_ratios(linear, doflocs, element_edges, check)
        folded = check[ratios < MIN_JACOBIAN_RATIO]
        chosen = element_edges[:, folded].ravel()
        chosen = np.unique(chosen[(surface_of[chosen] >= 0) & ~straightened[chosen]])
        if chosen.size == 0:
            break
        doflocs[:, n_vertices + chosen] = linear.p[:, edges[:, chosen]].mean(axis=1)
        straightened[chosen] = True
        touched = np.zeros(len(surface_of), dtype=bool)
        touched[chosen] = True
        check = np.flatnonzero(touched[element_edges].any(axis=0))
    return straightened


def _jacobian_ratios(linear: skfem.Mesh, doflocs: np.ndarray, element_edges: np.ndarray, elements: np.ndarray):
    """Per element of ``elements``: min of det J of the quadratic map over sample points / the straight element's.

    Sampled at the vertices, the edge midpoints, the centroid and the points of
    a degree-4 quadrature rule (det J of a quadratic map is a polynomial of
    degree 2 in 2D, 3 in 3D, so these points see a fold anywhere but in a
    sliver between them).  Shape (len(elements),).
    """
    dim = linear.dim()
    element = skfem.ElementTetP2() if dim == 3 else skfem.ElementTriP2()
    corners = np.hstack([np.zeros((dim, 1)), np.eye(dim)])
    pairs = [(i, j) for i in range(dim + 1) for j in range(i + 1, dim + 1)]
    midpoints = np.column_stack([(corners[:, i] + corners[:, j]) / 2 for i, j in pairs])
    rule, _ = skfem.quadrature.get_quadrature(element.refdom, 4)
    points = np.hstack([corners, midpoints, np.full((dim, 1), 1.0 / (dim + 1)), rule])
    # Gradients of the element's shape functions on the reference element, (k, dim, n_points),
    # in the element's node order: its vertices, then its edges in the mesh's local order.
    gradients = np.array([element.lbasis(points, k)[1] for k in range(dim + 1 + len(pairs))])
    out = np.empty(len(elements))
    n_vertices = linear.p.shape[1]
    for start in range(0, len(elements), _JACOBIAN_CHUNK):
        chunk = elements[start : start + _JACOBIAN_CHUNK]
        nodes = doflocs[:, np.vstack([linear.t[:, chunk], n_vertices + element_edges[:, chunk]])]  # (dim, k, m)
        jacobian = np.einsum("ike,kjp->epij", nodes, gradients)  # (m, n_points, dim, dim)
        corner = linear.p[:, linear.t[:, chunk]]
        straight = np.linalg.det(np.moveaxis(corner[:, 1:] - corner[:, :1], -1, 0))  # (m,)
        out[start : start + len(chunk)] = (np.linalg.det(jacobian) / straight[:, None]).min(axis=1)
    return out
