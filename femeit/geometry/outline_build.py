"""gmsh builders for :class:`~femeit.geometry.outline_specs.ContourSpec` and ``ExtrudedSpec``.

The outline is cut at every electrode end (and, for a polygon, at its
corners) and each piece between two cuts becomes one gmsh curve: a straight
line on a polygon, else an interpolating spline through points of our own
outline (so every cut, and hence every electrode end, lies exactly on the
outline at the arc length the spec asks for).  In 2D an electrode is the curve
pieces inside its arc (or a boundary vertex); in 3D the base is extruded and a
rectangular electrode is the part of the wall strips inside its arc that lies
between its bottom and top, a circular one the part of the wall inside a
cylinder along the wall's normal.  Physical groups follow the mesh contract:
``domain``, ``inclusion_*``, ``e01``..``eNN``.
"""

from __future__ import annotations

import math

import gmsh
import numpy as np

from femeit.geometry.outline_specs import (
    ContourSpec,
    EllipseInclusion,
    EllipsoidInclusion,
    ExtrudedSpec,
    PolygonInclusion,
    PrismInclusion,
    footprint,
    z_range,
)
from femeit.geometry.specs import (
    BoxInclusion,
    CircleInclusion,
    CylinderInclusion,
    SphereInclusion,
    inclusion_names,
)
from femeit.geometry.tank_groups import fragment_and_name
from femeit.mesh.gmsh_session import distance_threshold, generate, mesh_tank_3d, minimum_field, use_size_fields_only


def _cuts(spec) -> np.ndarray:
    """Sorted arc lengths where the outline is cut (electrode ends or point electrodes, polygon corners)."""
    outline = spec.outline
    p = outline.perimeter
    # Circular electrodes do not cut the outline: a cut tangent to the circle
    # would leave OCC a degenerate intersection.
    cut_by = [ring.shape != "circle" for ring in spec.rings for _ in range(ring.n_electrodes)]
    cuts = [s for arc, cut in zip(spec.electrode_arcs(), cut_by, strict=True) if cut for s in arc]
    if outline.shape == "polygon":
        cuts += list(outline.arc_of_parameter(np.arange(len(outline.points), dtype=float)))
    cuts = np.unique(np.round(np.mod(cuts, p), 12)) if cuts else np.array([0.0])
    if len(cuts) < 3:  # a closed loop needs at least three curves
        cuts = np.unique(np.concatenate([cuts, cuts[0] + np.array([p / 3, 2 * p / 3])]) % p)
    return cuts


def _outline_curves(spec, z: float = 0.0) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Add the cut outline at height z: (curve tags, start arc, end arc) of each piece, in order."""
    occ = gmsh.model.occ
    outline = spec.outline
    p = outline.perimeter
    cuts = _cuts(spec)
    starts, ends = cuts, np.append(cuts[1:], cuts[0] + p)
    corners = outline.points_at_arc(cuts)
    points = [occ.addPoint(x, y, z) for x, y in corners]
    curves = []
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        first, last = points[i], points[(i + 1) % len(points)]
        if outline.shape == "polygon":
            curves.append(occ.addLine(first, last))
            continue
        # Enough interior points that the spline follows the outline within
        # about 1e-5 of its length: 64 over the whole perimeter, at least 3 per piece.
        m = max(3, math.ceil(64 * (b - a) / p))
        inner = outline.points_at_arc(np.linspace(a, b, m + 2)[1:-1])
        tags = [first] + [occ.addPoint(x, y, z) for x, y in inner] + [last]
        curves.append(occ.addSpline(tags))
        occ.remove([(0, t) for t in tags[1:-1]])  # interpolation points only, not vertices of the model
    return curves, starts, ends


def _owner(spec, starts: np.ndarray, ends: np.ndarray) -> list[list[int]]:
    """For each electrode, the outline pieces whose middle lies inside its arc."""
    p = spec.outline.perimeter
    mid = (starts + ends) / 2
    out = []
    for a, b in spec.electrode_arcs():
        length = (b - a) % p
        out.append([i for i, m in enumerate(mid) if (m - a) % p < length])
    return out


def _inclusion_2d(inc) -> int:
    occ = gmsh.model.occ
    if isinstance(inc, CircleInclusion):
        return occ.addDisk(inc.x, inc.y, 0.0, inc.radius, inc.radius)
    if isinstance(inc, EllipseInclusion):
        # gmsh's disk needs rx >= ry: draw it along its longer axis, then turn it.
        rx, ry, turn = (inc.a, inc.b, 0.0) if inc.a >= inc.b else (inc.b, inc.a, 90.0)
        tag = occ.addDisk(inc.x, inc.y, 0.0, rx, ry)
        occ.rotate([(2, tag)], inc.x, inc.y, 0.0, 0, 0, 1, math.radians(inc.angle_deg + turn))
        return tag
    assert isinstance(inc, PolygonInclusion)
    pts = [occ.addPoint(x, y, 0.0) for x, y in inc.points]
    lines = [occ.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
    return occ.addPlaneSurface([occ.addCurveLoop(lines)])


def _inclusion_3d(inc) -> int:
    occ = gmsh.model.occ
    if isinstance(inc, SphereInclusion):
        return occ.addSphere(inc.x, inc.y, inc.z, inc.radius)
    if isinstance(inc, EllipsoidInclusion):
        tag = occ.addSphere(inc.x, inc.y, inc.z, 1.0)
        occ.dilate([(3, tag)], inc.x, inc.y, inc.z, inc.a, inc.b, inc.c)
        return tag
    if isinstance(inc, CylinderInclusion):
        return occ.addCylinder(inc.x, inc.y, inc.z0, 0, 0, inc.z1 - inc.z0, inc.radius)
    if isinstance(inc, BoxInclusion):
        return occ.addBox(inc.x0, inc.y0, inc.z0, inc.x1 - inc.x0, inc.y1 - inc.y0, inc.z1 - inc.z0)
    assert isinstance(inc, PrismInclusion)
    pts = [occ.addPoint(x, y, inc.z0) for x, y in inc.points]
    lines = [occ.addLine(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts))]
    base = occ.addPlaneSurface([occ.addCurveLoop(lines)])
    out = occ.extrude([(2, base)], 0, 0, inc.z1 - inc.z0)
    return next(t for d, t in out if d == 3)


def _smallest_2d(inc) -> float:
    if isinstance(inc, CircleInclusion):
        return inc.radius
    if isinstance(inc, EllipseInclusion):
        return min(inc.a, inc.b)
    fp = footprint(inc)
    return float(np.linalg.norm(np.roll(fp, -1, axis=0) - fp, axis=1).min())


def _smallest_3d(inc) -> float:
    lo, hi = z_range(inc)
    fp = footprint(inc)
    return min(hi - lo, float(np.ptp(fp[:, 0])), float(np.ptp(fp[:, 1])))


def build_contour(spec: ContourSpec) -> None:
    """Add the 2D domain, its electrodes and inclusions to the current gmsh model and mesh it."""
    occ = gmsh.model.occ
    curves, starts, ends = _outline_curves(spec)
    surface = occ.addPlaneSurface([occ.addCurveLoop(curves)])
    coms = [occ.getCenterOfMass(1, c) for c in curves]
    owners = _owner(spec, starts, ends)
    outline = spec.outline
    inclusions = [_inclusion_2d(inc) for inc in spec.inclusions]
    if inclusions:
        _, out_map = occ.fragment([(2, surface)], [(2, t) for t in inclusions])
        inclusion_surfaces = [[t for _, t in out_map[1 + i]] for i in range(len(inclusions))]
        background = sorted({t for _, t in out_map[0]} - {t for ts in inclusion_surfaces for t in ts})
    else:
        inclusion_surfaces, background = [], [surface]
    occ.synchronize()
    # Fragmenting may renumber curves and points: find the outline pieces again
    # by the point in the middle of each (it lies on that piece only).
    piece = _match_by_centre(1, coms)
    gmsh.model.addPhysicalGroup(2, background, name="domain")
    for name, tags in zip(inclusion_names("ContourSpec", spec.inclusions), inclusion_surfaces, strict=True):
        gmsh.model.addPhysicalGroup(2, tags, name=name)
    electrode_curves, electrode_points = [], []
    for k, (a, b) in enumerate(spec.electrode_arcs()):
        if a == b:
            tag = _match_point(outline.points_at_arc(a))
            electrode_points.append(tag)
            gmsh.model.addPhysicalGroup(0, [tag], name=f"e{k + 1:02d}")
        else:
            tags = [piece[i] for i in owners[k]]
            electrode_curves += tags
            gmsh.model.addPhysicalGroup(1, tags, name=f"e{k + 1:02d}")

    use_size_fields_only()
    h, h_el = spec.mesh_size, spec.electrode_mesh_size
    where = {}
    if electrode_curves:
        where["CurvesList"] = electrode_curves
    if electrode_points:
        where["PointsList"] = electrode_points
    fields = [distance_threshold(where, h_el, h, h_el, 4 * h)]
    if spec.inclusions:
        h_inc = min(h, min(_smallest_2d(inc) for inc in spec.inclusions) / 5)
        bounds = gmsh.model.getBoundary([(2, t) for ts in inclusion_surfaces for t in ts], oriented=False)
        fields.append(distance_threshold({"CurvesList": [abs(c) for _, c in bounds]}, h_inc, h, h_inc, 3 * h))
    # The outline itself at the bulk size, so curved parts are resolved.
    minimum_field(fields)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    generate(2, f"the {outline.shape} outline of perimeter {outline.perimeter:.4g} m")


def _match_by_centre(dim: int, centres: list) -> list[int]:
    """For each centre of mass, the entity of dimension ``dim`` whose centre of mass is nearest.

    (gmsh's closest-point query projects onto the underlying infinite line or
    plane, so it cannot tell apart collinear or coplanar pieces.)
    """
    tags = [t for _, t in gmsh.model.getEntities(dim)]
    have = np.array([gmsh.model.occ.getCenterOfMass(dim, t) for t in tags])
    return [tags[int(np.argmin(np.linalg.norm(have - np.asarray(c)[None], axis=1)))] for c in centres]


def _match_point(xy: np.ndarray) -> int:
    pts = [t for _, t in gmsh.model.getEntities(0)]
    coords = np.array([gmsh.model.getValue(0, t, []) for t in pts])
    return pts[int(np.argmin(np.linalg.norm(coords[:, :2] - np.asarray(xy)[None], axis=1)))]


def build_extruded(spec: ExtrudedSpec) -> None:
    """Add the extruded tank, its wall electrodes and inclusions to the current gmsh model and mesh it."""
    occ = gmsh.model.occ
    outline = spec.outline
    curves, starts, ends = _outline_curves(spec)
    base = occ.addPlaneSurface([occ.addCurveLoop(curves)])
    # The wall face over each outline piece has the piece's centre of mass, raised to mid-height.
    coms = [np.add(occ.getCenterOfMass(1, c), (0.0, 0.0, spec.height / 2)) for c in curves]
    out = occ.extrude([(2, base)], 0, 0, spec.height)
    tank = next(t for d, t in out if d == 3)
    occ.synchronize()
    wall_of_piece = _match_by_centre(2, coms)
    owners = _owner(spec, starts, ends)
    bbox = outline.polyline(4096)
    lo, hi = bbox.min(axis=0), bbox.max(axis=0)
    pad = 0.1 * float(np.max(hi - lo))
    patches = []
    k = 0
    for ring in spec.rings:
        for s in ring.centres(outline):
            if ring.shape == "rectangle":
                faces = [(2, wall_of_piece[i]) for i in owners[k]]
                tool = occ.addBox(
                    lo[0] - pad,
                    lo[1] - pad,
                    ring.z - ring.height / 2,
                    hi[0] - lo[0] + 2 * pad,
                    hi[1] - lo[1] + 2 * pad,
                    ring.height,
                )
            else:
                near = _pieces_near(starts, ends, s, 2 * ring.radius, outline.perimeter)
                faces = [(2, wall_of_piece[i]) for i in near]
                (px, py), (nx, ny) = outline.points_at_arc(s), outline.normals_at_arc(s)
                depth = ring.radius
                tool = occ.addCylinder(
                    px - depth * nx, py - depth * ny, ring.z, 2 * depth * nx, 2 * depth * ny, 0.0, ring.radius
                )
            # One face at a time: OCC's common of several faces with one tool
            # can come back empty when the tool misses one of them.
            pieces = []
            for face in faces:
                copy = occ.copy([(3, tool)])
                got, _ = occ.intersect([face], copy, removeObject=False, removeTool=True)
                pieces += [g for g in got if g[0] == 2]
            occ.remove([(3, tool)], recursive=True)
            patches.append(pieces)
            k += 1
    inclusions = [(3, _inclusion_3d(inc)) for inc in spec.inclusions]
    electrode_surfaces, inclusion_volumes = fragment_and_name(
        tank, patches, inclusions, "ExtrudedSpec", spec.inclusions
    )

    h = spec.mesh_size
    h_inc = min([h] + [_smallest_3d(inc) / 10 for inc in spec.inclusions])
    mesh_tank_3d(
        [s for ss in electrode_surfaces for s in ss],
        [v for vs in inclusion_volumes for v in vs],
        (h, spec.electrode_mesh_size, h_inc),
        f"the {outline.shape} tank of height {spec.height}",
    )


def _pieces_near(starts: np.ndarray, ends: np.ndarray, s: float, reach: float, p: float) -> list[int]:
    """Outline pieces that come within ``reach`` (arc length) of ``s``."""
    out = []
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        # Distance along the periodic outline from s to the interval [a, b].
        d = min(abs((s - a + p / 2) % p - p / 2), abs((s - b + p / 2) % p - p / 2))
        inside = (s - a) % p < (b - a)
        if inside or d < reach:
            out.append(i)
    return out
