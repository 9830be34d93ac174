"""A graded 3D half-space mesh sized to the survey, with point electrodes on its flat surface.

The ground z <= 0 is truncated to a box ``extent`` survey sizes beyond the
electrodes on every side and below (insulating faces: with numeric
geometric factors from the same mesh the truncation error mostly cancels).
The element size grows linearly with the distance d to the nearest
electrode, ``h = near_size + growth * d`` (as :func:`femeit.ert.halfplane_mesh`
in 2D), so the mesh is fine where the potential is singular and coarse in
the far field: the number of tetrahedra grows with the number of
electrodes and ``1 / growth^3``, not with the box volume over a uniform
survey size.  Horizontal interfaces (``layers``) and axis-aligned boxes
(``boxes``, clipped to the domain) are meshed conformingly.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmsh
import numpy as np

from femeit.errors import FemeitError
from femeit.mesh import EITMesh
from femeit.mesh.gmsh_session import extract_groups, generate, gmsh_session, use_size_fields_only

__all__ = ["halfspace_mesh_3d"]


def halfspace_mesh_3d(
    electrodes: np.ndarray,
    *,
    near_size: float | None = None,
    growth: float = 0.3,
    extent: float = 5.0,
    layers: Sequence[float] = (),
    boxes: Sequence[Sequence[float]] = (),
    domain: Sequence[float] | None = None,
) -> EITMesh:
    """Mesh the half-space z <= 0 under surface point electrodes, graded from them.

    Parameters
    ----------
    electrodes : ndarray, shape (L, 2) or (L, 3)
        Electrode positions (x, y) on the surface z = 0, m (a third column,
        when given, must be 0).
    near_size : float, optional
        Element size at the electrodes, m (default: the smallest electrode
        separation / 4).
    growth : float
        Growth of the element size per metre of distance from the nearest
        electrode (dimensionless; 0.3 by default).
    extent : float
        Distance from the electrodes' bounding box to the sides and the
        bottom, in survey sizes (the larger side of that bounding box).
    layers : sequence of float
        Depths z (< 0) of horizontal interfaces to mesh conformingly, m.
    boxes : sequence of (x0, x1, y0, y1, z0, z1)
        Axis-aligned boxes to mesh conformingly (clipped to the domain), m.
    domain : (x0, x1, y0, y1, z0), optional
        The box [x0, x1] x [y0, y1] x [z0, 0] itself, m (e.g. a laboratory
        tank with its electrodes on the water surface; every electrode must
        lie inside its top face); replaces ``extent``.

    Returns
    -------
    EITMesh
        Tetrahedra in the group ``domain`` (the whole box), point electrodes
        ``e01..eL`` (one surface node each, in the given order).
    """
    e = np.asarray(electrodes, dtype=float)
    if e.ndim != 2 or e.shape[1] not in (2, 3) or len(e) < 2 or not np.all(np.isfinite(e)):
        raise FemeitError(f"electrodes must be finite positions of shape (L >= 2, 2 or 3), got {e.shape}")
    if e.shape[1] == 3:
        if np.any(np.abs(e[:, 2]) > 1e-9 * max(1.0, np.ptp(e[:, :2]))):
            raise FemeitError("every electrode must lie on the surface z = 0 (flat ground)")
        e = e[:, :2]
    d = np.linalg.norm(e[:, None] - e[None], axis=2)[~np.eye(len(e), dtype=bool)]
    if d.min() <= 0:
        raise FemeitError("two electrodes share a position")
    h0 = float(d.min() / 4 if near_size is None else near_size)
    if not (h0 > 0 and growth > 0 and extent > 0):
        raise FemeitError("near_size, growth and extent must be positive")
    lo, hi = e.min(axis=0), e.max(axis=0)
    size = float(max(np.max(hi - lo), d.min()))
    pad = extent * size
    x0, y0 = lo - pad
    x1, y1 = hi + pad
    z0 = -pad
    if domain is not None:
        dom = np.asarray(domain, dtype=float)
        if dom.shape != (5,) or not np.all(np.isfinite(dom)):
            raise FemeitError(f"domain must be (x0, x1, y0, y1, z0), got {domain!r}")
        x0, x1, y0, y1, z0 = (float(v) for v in dom)
        if not (x0 <= lo[0] and hi[0] <= x1 and y0 <= lo[1] and hi[1] <= y1 and z0 < 0):
            raise FemeitError(
                f"domain {dom.tolist()} must hold every electrode on its top face (x in [{lo[0]:g}, {hi[0]:g}], "
                f"y in [{lo[1]:g}, {hi[1]:g}]) and reach below z = 0"
            )
        pad = max(x1 - x0, y1 - y0, -z0)
    for z in layers:
        if not (z0 < z < 0):
            raise FemeitError(f"a layer at z = {z} must lie between the bottom ({z0:g}) and the surface")
    with gmsh_session("femeit_halfspace3d"):
        occ = gmsh.model.occ
        box = occ.addBox(x0, y0, z0, x1 - x0, y1 - y0, -z0)
        tools: list[tuple[int, int]] = [(2, occ.addRectangle(x0, y0, z, x1 - x0, y1 - y0)) for z in layers]
        for b in boxes:
            b = np.asarray(b, dtype=float)
            if b.shape != (6,) or b[1] <= b[0] or b[3] <= b[2] or b[5] <= b[4]:
                raise FemeitError(f"a box must be (x0, x1, y0, y1, z0, z1) with x0 < x1, y0 < y1, z0 < z1, got {b}")
            bx0, bx1 = max(b[0], x0), min(b[1], x1)
            by0, by1 = max(b[2], y0), min(b[3], y1)
            bz0, bz1 = max(b[4], z0), min(b[5], 0.0)
            if bx1 <= bx0 or by1 <= by0 or bz1 <= bz0:
                raise FemeitError(f"the box {b.tolist()} lies outside the domain")
            tools.append((3, occ.addBox(bx0, by0, bz0, bx1 - bx0, by1 - by0, bz1 - bz0)))
        points = [occ.addPoint(x, y, 0.0) for x, y in e]
        _, frag = occ.fragment([(3, box)], tools + [(0, p) for p in points])
        occ.synchronize()
        electrode_points = [[t for _, t in frag[1 + len(tools) + k]] for k in range(len(e))]
        eps = 1e-9 * max(1.0, pad)
        top = [t for _, t in gmsh.model.getEntitiesInBoundingBox(x0 - eps, y0 - eps, -eps, x1 + eps, y1 + eps, eps, 2)]
        # OCC leaves the points unattached to the box: embed each in the surface patch that holds it.
        flat = [t for ts in electrode_points for t in ts]
        for tag in top:
            bb = gmsh.model.getBoundingBox(2, tag)
            inside = [
                t
                for t, (x, y) in zip(flat, e, strict=True)
                if bb[0] - eps <= x <= bb[3] + eps and bb[1] - eps <= y <= bb[4] + eps
            ]
            if inside:
                gmsh.model.mesh.embed(0, inside, 2, tag)
                flat = [t for t in flat if t not in inside]
        gmsh.model.addPhysicalGroup(3, [t for _, t in gmsh.model.getEntities(3)], name="domain")
        for k, tags in enumerate(electrode_points):
            gmsh.model.addPhysicalGroup(0, tags, name=f"e{k + 1:02d}")
        field = gmsh.model.mesh.field
        dist = field.add("Distance")
        field.setNumbers(dist, "PointsList", [t for ts in electrode_points for t in ts])
        graded = field.add("MathEval")
        field.setString(graded, "F", f"{h0!r} + {growth!r} * F{dist}")
        field.setAsBackgroundMesh(graded)
        use_size_fields_only()
        gmsh.option.setNumber("Mesh.Algorithm3D", 10)
        generate(3, f"the 3D half-space under {len(e)} electrodes")
        groups = extract_groups(3)
    return EITMesh.from_groups(groups, where="halfspace_mesh_3d")
