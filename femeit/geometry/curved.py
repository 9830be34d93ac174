"""Second-order (curved, isoparametric) geometry for meshes of spherical and circular surfaces.

A mesh from gmsh is made of flat simplices, so a sphere (or circle) is
represented by a polyhedron inscribed in it whose volume falls short of the true
one (meshed / true volume 0.995 for a sphere at h = 0.07 r).  For a buried
inclusion that volume deficit dominates the error of the anomaly, long before the
field's discretisation error does.  :func:`curved_mesh` turns a mesh into its
second-order version (scikit-fem ``MeshTri2`` / ``MeshTet2``: one extra node per
edge) and moves the mid-edge node of every edge on a spherical surface onto that
surface.  Each element then maps its reference element through quadratic shape
functions, so with P2 fields the discretisation is isoparametric (Ciarlet &
Raviart, "The combined effect of curved boundaries and numerical integration in
isoparametric finite element methods", in *The Mathematical Foundations of the
Finite Element Method*, Academic Press 1972, pp. 409-474): the geometric error
falls from O(h^2) to O(h^3) and no longer limits P2's accuracy.

The surfaces are known exactly (centre and radius), so the mid-edge nodes are
projected onto the exact sphere, as gmsh's ``Mesh.ElementOrder = 2`` would project
them onto the CAD surface; the vertices already lie on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import skfem

from femeit.errors import FemeitError
from femeit.mesh import EITMesh

# A vertex is on a sphere when its distance from the surface is below this
# fraction of the radius (gmsh places surface nodes to rounding).
ON_SURFACE_RTOL = 1e-7


def spec_spheres(spec) -> list[tuple[np.ndarray, float]]:
    """The spherical (3D) or circular (2D) surfaces of a geometry spec: [(centre, radius), ...].

    The ball's or disk's outer boundary, the ball's inner sphere, and every spherical or circular
    inclusion (``SphereInclusion``, ``CircleInclusion``).  Returns an empty list for specs without curved
    surfaces of this kind.
    """
    spheres = []
    name = type(spec).__name__
    if name in ("BallSpec", "CircleSpec"):
        spheres.append((np.zeros(spec.dim), float(spec.radius)))
        if getattr(spec, "inner_radius", 0.0) > 0:
            spheres.append((np.zeros(spec.dim), float(spec.inner_radius)))
    for inc in getattr(spec, "inclusions", ()):
        if type(inc).__name__ not in ("SphereInclusion", "CircleInclusion"):
            continue  # cylinders and boxes are not spheres
        centre = [inc.x, inc.y] + ([inc.z] if spec.dim == 3 else [])
        spheres.append((np.array(centre, dtype=float), float(inc.radius)))
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


def curved_mesh(mesh: EITMesh, spheres: Sequence[tuple[np.ndarray, float]] | None = None) -> EITMesh:
    """The second-order version of ``mesh`` with its spherical surfaces curved exactly.

    Parameters
    ----------
    mesh : EITMesh
        A first-order mesh (from :func:`femeit.geometry.mesh_from_spec` or elsewhere).
    spheres : sequence of (centre, radius), optional
        Spheres (3D) or circles (2D), centre shape (dim,) in m, radius in m.
        Default: those of ``mesh.spec`` (:func:`spec_spheres`).

    Returns
    -------
    EITMesh
        Same vertices, elements, electrodes and regions; ``mesh.mesh`` is a
        scikit-fem ``MeshTri2``/``MeshTet2`` whose ``p`` (= ``doflocs``) holds the
        vertices followed by one node per edge (``mesh.points`` and ``n_nodes``
        count both).  Every edge of a facet that lies on one of the spheres (on
        the outer boundary or between two regions) has its mid node on the
        sphere.  :class:`femeit.forward.ForwardModel` on it integrates with the
        quadratic element maps; use ``order=2`` for an isoparametric model.

    Raises
    ------
    FemeitError
        If the mesh is already second order, or a given sphere has no facet on it.
    """
    if not mesh.mesh.affine or isinstance(mesh.mesh, skfem.MeshTet2 | skfem.MeshTri2):
        raise FemeitError("the mesh is already second order")
    spheres = spec_spheres(mesh.spec) if spheres is None else spheres
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
    candidates = _surface_facets(mesh)
    for centre, radius in spheres:
        centre = np.asarray(centre, dtype=float).reshape(-1, 1)
        radius = float(radius)
        if centre.shape[0] != mesh.dim or not radius > 0:
            raise FemeitError(f"a sphere needs a centre of {mesh.dim} coordinates and a positive radius")
        on_vertex = np.abs(np.linalg.norm(linear.p - centre, axis=0) - radius) < ON_SURFACE_RTOL * radius
        facets = linear.facets[:, candidates]
        facets = facets[:, on_vertex[facets].all(axis=0)]
        if facets.shape[1] == 0:
            raise FemeitError(f"no facet of the mesh lies on the sphere of centre {centre.ravel()} and radius {radius}")
        pairs = np.concatenate([facets[[i, j]] for i in range(len(facets)) for j in range(i + 1, len(facets))], axis=1)
        keys = np.unique(pairs.min(axis=0) * n_vertices + pairs.max(axis=0))
        found = order[np.searchsorted(edge_keys, keys, sorter=order)]
        columns = n_vertices + found
        offset = doflocs[:, columns] - centre
        doflocs[:, columns] = centre + radius * offset / np.linalg.norm(offset, axis=0)
    curved = replace(quadratic, doflocs=doflocs, _boundaries=linear._boundaries, _subdomains=linear._subdomains)
    info = dict(mesh.info, curved_surfaces=len(spheres))
    return replace(mesh, mesh=curved, info=info)
