"""gmsh builder for the 2D disk (:class:`~femeit.geometry.specs.CircleSpec`)."""

from __future__ import annotations

import math

import gmsh

from femeit.geometry.specs import CircleSpec, inclusion_names
from femeit.mesh.gmsh_session import distance_threshold, generate, minimum_field, use_size_fields_only


def build_circle(spec: CircleSpec) -> None:
    """Add the disk, its electrodes and inclusions to the current gmsh model and mesh it.

    The boundary is assembled from arcs so that every electrode is one curve
    with its ends exactly at ``centre +- width / 2`` along the circle; point
    electrodes (width 0) are boundary vertices.  Physical groups: ``domain``,
    ``e01``..``eNN`` (curves or points), ``inclusion_*``.
    """
    occ = gmsh.model.occ
    r = spec.radius
    half = math.degrees(spec.electrode_width / 2 / r)
    # Breakpoints along the circle (angle in degrees, electrode index or None).
    marks: list[tuple[float, int, str]] = []
    for k, centre in enumerate(spec.electrode_angles_deg()):
        centre %= 360.0
        if spec.electrode_width > 0:
            marks += [((centre - half) % 360.0, k, "start"), ((centre + half) % 360.0, k, "end")]
        else:
            marks.append((centre, k, "point"))
    marks.sort()
    points = [occ.addPoint(r * math.cos(math.radians(a)), r * math.sin(math.radians(a)), 0.0) for a, _, _ in marks]
    centre_pt = occ.addPoint(0.0, 0.0, 0.0)
    arcs, electrode_curves, electrode_points = [], {}, {}
    for i, (_angle, k, role) in enumerate(marks):
        arc = occ.addCircleArc(points[i], centre_pt, points[(i + 1) % len(points)])
        arcs.append(arc)
        if role == "start":
            electrode_curves[k] = arc
        elif role == "point":
            electrode_points[k] = points[i]
    # An electrode whose 'start' is the last mark wraps through 0 degrees: its
    # arc is the last one, already recorded above.
    loop = occ.addCurveLoop(arcs)
    disk = occ.addPlaneSurface([loop])
    occ.remove([(0, centre_pt)])
    inclusions = [occ.addDisk(inc.x, inc.y, 0.0, inc.radius, inc.radius) for inc in spec.inclusions]
    if inclusions:
        _, out_map = occ.fragment([(2, disk)], [(2, t) for t in inclusions])
    occ.synchronize()
    if inclusions:
        inclusion_surfaces = [[tag for _, tag in out_map[1 + i]] for i in range(len(inclusions))]
        all_surfaces = {tag for _, tag in out_map[0]}
        background = sorted(all_surfaces - {t for ts in inclusion_surfaces for t in ts})
        # Fragmenting may renumber the boundary arcs; find electrodes again by position.
        electrode_curves = _match_arcs(spec, electrode_curves)
    else:
        inclusion_surfaces, background = [], [disk]

    gmsh.model.addPhysicalGroup(2, background, name="domain")
    for name, tags in zip(inclusion_names("CircleSpec", spec.inclusions), inclusion_surfaces, strict=True):
        gmsh.model.addPhysicalGroup(2, tags, name=name)
    for k in range(spec.n_electrodes):
        if spec.electrode_width > 0:
            gmsh.model.addPhysicalGroup(1, [electrode_curves[k]], name=f"e{k + 1:02d}")
        else:
            gmsh.model.addPhysicalGroup(0, [electrode_points[k]], name=f"e{k + 1:02d}")

    use_size_fields_only()
    h, h_el = spec.mesh_size, spec.electrode_mesh_size
    key = (
        ("CurvesList", list(electrode_curves.values()))
        if spec.electrode_width > 0
        else ("PointsList", list(electrode_points.values()))
    )
    fields = [distance_threshold({key[0]: key[1]}, h_el, h, h_el, 4 * h)]
    if spec.inclusions:
        # About 30 segments round the smallest inclusion: area within 1 %.
        h_inc = min(h, min(inc.radius for inc in spec.inclusions) / 5)
        curves = [t for _, t in gmsh.model.getBoundary([(2, t) for ts in inclusion_surfaces for t in ts])]
        fields.append(distance_threshold({"CurvesList": [abs(c) for c in curves]}, h_inc, h, h_inc, 3 * h))
    minimum_field(fields)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    generate(2, f"the disk of radius {spec.radius}")


def _match_arcs(spec: CircleSpec, old: dict[int, int]) -> dict[int, int]:
    """Map each electrode to the boundary curve whose midpoint lies at its centre angle."""
    curves = [t for d, t in gmsh.model.getEntities(1)]
    out = {}
    for k, angle in enumerate(spec.electrode_angles_deg()):
        target = (math.cos(math.radians(angle)), math.sin(math.radians(angle)))
        best = min(
            curves,
            key=lambda c: math.dist([v / spec.radius for v in gmsh.model.occ.getCenterOfMass(1, c)[:2]], target),
        )
        out[k] = best
    return out
