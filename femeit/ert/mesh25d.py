"""A graded 2D mesh of the half-plane under an electrode profile, with topography.

The surface is the polyline through the electrode positions (x, z), extended
horizontally at the end electrodes' heights to the sides of the domain; the
domain reaches ``extent`` times the profile length beyond each end and below
the lowest electrode.  Elements are ``near_size`` at the electrodes and grow
linearly with the distance d from the nearest electrode, h(d) = near_size +
growth * d, up to the far boundary: a few thousand triangles for a 32-electrode
line.  Optional horizontal interfaces (``layers``), polylines (``interfaces``) and polygons (``bodies``)
are meshed conformingly so that a piecewise-constant conductivity follows them
exactly.  Built with gmsh's OpenCASCADE kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gmsh
import numpy as np
import skfem

from femeit.errors import FemeitError
from femeit.mesh.gmsh_session import extract_groups, generate, gmsh_session, use_size_fields_only

__all__ = ["HalfPlaneMesh", "closed_mesh", "halfplane_mesh"]


@dataclass(frozen=True, eq=False)
class HalfPlaneMesh:
    """A triangle mesh of a half-plane profile (x right, z up).

    Attributes
    ----------
    mesh : skfem.MeshTri
        The mesh, coordinates in m.
    electrode_nodes : ndarray of int, shape (L,)
        The mesh node at each electrode.
    electrodes : ndarray, shape (L, 2)
        Electrode positions (x, z), m.
    far_facets : ndarray of int, shape (n,)
        Boundary facets on the sides and bottom (the artificial boundary).
    centre : ndarray, shape (2,)
        Middle of the electrode spread at the surface: the origin of the
        mixed boundary condition's distances.
    """

    mesh: skfem.MeshTri
    electrode_nodes: np.ndarray
    electrodes: np.ndarray
    far_facets: np.ndarray
    centre: np.ndarray

    @property
    def n_elements(self) -> int:
        """Number of triangles."""
        return self.mesh.t.shape[1]

    def areas(self) -> np.ndarray:
        """Element areas, shape (n_elements,), m^2."""
        p = self.mesh.p[:, self.mesh.t]
        return 0.5 * np.abs((p[0, 1] - p[0, 0]) * (p[1, 2] - p[1, 0]) - (p[0, 2] - p[0, 0]) * (p[1, 1] - p[1, 0]))

    def centroids(self) -> np.ndarray:
        """Element centroids, shape (n_elements, 2), m."""
        return self.mesh.p[:, self.mesh.t].mean(axis=1).T


def _check_profile(electrodes: np.ndarray) -> np.ndarray:
    e = np.asarray(electrodes, dtype=float)
    if e.ndim != 2 or e.shape[1] != 2 or len(e) < 2:
        raise FemeitError(f"electrode positions must have shape (L, 2) (x, z) with L >= 2, got {e.shape}")
    if not np.all(np.isfinite(e)):
        raise FemeitError("electrode positions must be finite (leave the remote electrode out of the mesh)")
    if np.any(np.diff(e[:, 0]) <= 0):
        raise FemeitError("a surface profile needs electrodes at strictly increasing x")
    return e


def halfplane_mesh(
    electrodes: np.ndarray,
    *,
    near_size: float | None = None,
    growth: float = 0.25,
    extent: float = 5.0,
    ends: str = "flat",
    layers: Sequence[float] = (),
    interfaces: Sequence[np.ndarray] = (),
    bodies: Sequence[np.ndarray] = (),
) -> HalfPlaneMesh:
    """Mesh the half-plane under an electrode profile (module docstring).

    Parameters
    ----------
    electrodes : ndarray, shape (L, 2)
        Electrode positions (x, z) at strictly increasing x, m; z is the
        topography (e.g. ``ERTData.profile()`` of a data file).
    near_size : float, optional
        Element size at the electrodes, m (default: the smallest electrode
        spacing / 10).
    growth : float
        Growth of the element size per metre of distance from the nearest
        electrode (0.25: four elements per distance band).
    extent : float
        Distance from the profile's ends to the sides, and from the lowest
        electrode to the bottom, in profile lengths.
    ends : {"flat", "linear"}
        How the surface continues beyond the end electrodes: horizontally
        ("flat") or along the slope of the last electrode pair ("linear").
    layers : sequence of float
        Heights z of horizontal interfaces to mesh conformingly, m (below
        every electrode).
    interfaces : sequence of ndarray, shape (n_i, 2)
        Open polylines (x, z) to mesh conformingly, m (e.g. a vertical
        contact from the surface to the bottom).
    bodies : sequence of ndarray, shape (n_i, 2)
        Closed polygons (x, z) inside the domain to mesh conformingly.

    Returns
    -------
    HalfPlaneMesh
    """
    e = _check_profile(electrodes)
    spacing = np.linalg.norm(np.diff(e, axis=0), axis=1)
    length = e[-1, 0] - e[0, 0]
    h0 = float(spacing.min() / 10 if near_size is None else near_size)
    if not (h0 > 0 and growth > 0 and extent > 0):
        raise FemeitError("near_size, growth and extent must be positive")
    x_left, x_right = e[0, 0] - extent * length, e[-1, 0] + extent * length
    z_bottom = e[:, 1].min() - extent * length
    for z in layers:
        if not (z_bottom < z < e[:, 1].min()):
            raise FemeitError(f"a layer interface at z = {z} must lie below every electrode and above the bottom")
    if ends == "flat":
        z_left, z_right = e[0, 1], e[-1, 1]
    elif ends == "linear":
        z_left = e[0, 1] - (e[0, 0] - x_left) * (e[1, 1] - e[0, 1]) / (e[1, 0] - e[0, 0])
        z_right = e[-1, 1] + (x_right - e[-1, 0]) * (e[-1, 1] - e[-2, 1]) / (e[-1, 0] - e[-2, 0])
        z_bottom = min(z_bottom, z_left - extent * length, z_right - extent * length)
    else:
        raise FemeitError(f"ends must be 'flat' or 'linear', got {ends!r}")
    outline = np.vstack([[x_left, z_left], e, [x_right, z_right], [x_right, z_bottom], [x_left, z_bottom]])
    with gmsh_session("femeit_halfplane"):
        occ = gmsh.model.occ
        pts = [occ.addPoint(x, z, 0.0) for x, z in outline]
        curves = [occ.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
        surface = occ.addPlaneSurface([occ.addCurveLoop(curves)])
        tools: list[tuple[int, int]] = []
        for z in layers:
            tools.append((1, occ.addLine(occ.addPoint(x_left, z, 0), occ.addPoint(x_right, z, 0))))
        for line in interfaces:
            line = np.asarray(line, dtype=float)
            if line.ndim != 2 or line.shape[1] != 2 or len(line) < 2:
                raise FemeitError(f"an interface must be a polyline of shape (n >= 2, 2), got {line.shape}")
            lp = [occ.addPoint(x, z, 0.0) for x, z in line]
            tools += [(1, occ.addLine(lp[i], lp[i + 1])) for i in range(len(lp) - 1)]
        for poly in bodies:
            poly = np.asarray(poly, dtype=float)
            if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
                raise FemeitError(f"a body must be a polygon of shape (n >= 3, 2), got {poly.shape}")
            bp = [occ.addPoint(x, z, 0.0) for x, z in poly]
            bl = [occ.addLine(bp[i], bp[(i + 1) % len(bp)]) for i in range(len(bp))]
            tools.append((2, occ.addPlaneSurface([occ.addCurveLoop(bl)])))
        if tools:
            occ.fragment([(2, surface)], tools)
        occ.synchronize()
        surfaces = [tag for dim, tag in gmsh.model.getEntities(2)]
        gmsh.model.addPhysicalGroup(2, surfaces, name="domain")
        eps = 1e-9 * max(1.0, length)
        e_points = []
        for x, z in e:
            found = gmsh.model.getEntitiesInBoundingBox(x - eps, z - eps, -eps, x + eps, z + eps, eps, 0)
            e_points += [tag for _, tag in found]
        _mesh_graded_from(e_points, h0, growth, "the half-plane profile")
        groups = extract_groups(2)
    p = groups.points.T.copy()
    t = groups.regions["domain"].T.copy()
    mesh = skfem.MeshTri(p, t)
    d = np.linalg.norm(mesh.p.T[None, :, :] - e[:, None, :], axis=2)
    nodes = d.argmin(axis=1)
    if np.any(d[np.arange(len(e)), nodes] > 1e-6 * max(1.0, length)):
        raise FemeitError("the mesh has no node at some electrode (gmsh moved a surface point)")
    bnd = mesh.boundary_facets()
    mid = mesh.p[:, mesh.facets[:, bnd]].mean(axis=1)
    tol = 1e-7 * max(1.0, length)
    far = (np.abs(mid[0] - x_left) < tol) | (np.abs(mid[0] - x_right) < tol) | (np.abs(mid[1] - z_bottom) < tol)
    centre = np.array([0.5 * (e[0, 0] + e[-1, 0]), float(np.interp(0.5 * (e[0, 0] + e[-1, 0]), e[:, 0], e[:, 1]))])
    return HalfPlaneMesh(mesh, nodes, e.copy(), bnd[far], centre)


def closed_mesh(electrodes: np.ndarray, *, near_size: float | None = None, growth: float = 0.25) -> HalfPlaneMesh:
    """Mesh the cross-section enclosed by a ring of electrodes (e.g. around a tree trunk).

    The outline is the closed polygon through the electrode positions in
    their order (the irregular outline measured with the sensors, as for a
    tree trunk); there is no artificial boundary (``far_facets`` empty), so a
    :class:`~femeit.ert.forward25d.Forward25D` on it needs
    ``boundary="neumann"``: the 2.5D model of a body that is uniform along
    its axis (an infinitely long trunk), insulated all around.

    Parameters
    ----------
    electrodes : ndarray, shape (L, 2)
        Electrode positions (x, y) around the outline, in order, m (L >= 3).
    near_size : float, optional
        Element size at the electrodes, m (default: the smallest spacing / 5).
    growth : float
        Growth of the element size per metre from the nearest electrode.

    Returns
    -------
    HalfPlaneMesh
        ``centre`` is the electrodes' mean position.
    """
    e = np.asarray(electrodes, dtype=float)
    if e.ndim != 2 or e.shape[1] != 2 or len(e) < 3 or not np.all(np.isfinite(e)):
        raise FemeitError(f"a ring of electrodes must be finite positions of shape (L >= 3, 2), got {e.shape}")
    edges = np.linalg.norm(np.roll(e, -1, axis=0) - e, axis=1)
    if np.any(edges <= 0):
        raise FemeitError("two consecutive electrodes of the ring are at the same position")
    area2 = np.sum(e[:, 0] * np.roll(e[:, 1], -1) - np.roll(e[:, 0], -1) * e[:, 1])
    h0 = float(edges.min() / 5 if near_size is None else near_size)
    if not (h0 > 0 and growth > 0):
        raise FemeitError("near_size and growth must be positive")
    size = float(np.ptp(e, axis=0).max())
    with gmsh_session("femeit_ring"):
        occ = gmsh.model.occ
        pts = [occ.addPoint(x, y, 0.0) for x, y in e]
        curves = [occ.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
        try:
            occ.addPlaneSurface([occ.addCurveLoop(curves)])
            occ.synchronize()
        except Exception as exc:  # gmsh raises a bare Exception for a self-intersecting loop
            raise FemeitError(f"the electrode ring is not a simple closed outline: {exc}") from None
        surfaces = [tag for dim, tag in gmsh.model.getEntities(2)]
        gmsh.model.addPhysicalGroup(2, surfaces, name="domain")
        _mesh_graded_from(pts, h0, growth, "the electrode ring's cross-section")
        groups = extract_groups(2)
    mesh = skfem.MeshTri(groups.points.T.copy(), groups.regions["domain"].T.copy())
    d = np.linalg.norm(mesh.p.T[None, :, :] - e[:, None, :], axis=2)
    nodes = d.argmin(axis=1)
    if np.any(d[np.arange(len(e)), nodes] > 1e-6 * max(1.0, size)) or area2 == 0:
        raise FemeitError("the mesh has no node at some electrode (gmsh moved an outline point)")
    return HalfPlaneMesh(mesh, nodes, e.copy(), np.zeros(0, dtype=np.int64), e.mean(axis=0))


def _mesh_graded_from(point_tags, h0: float, growth: float, what: str) -> None:
    """Mesh the current gmsh model in 2D with size ``h0 + growth * distance`` to the given points."""
    field = gmsh.model.mesh.field
    dist = field.add("Distance")
    field.setNumbers(dist, "PointsList", list(point_tags))
    size = field.add("MathEval")
    field.setString(size, "F", f"{h0!r} + {growth!r} * F{dist}")
    field.setAsBackgroundMesh(size)
    use_size_fields_only()
    generate(2, what)
