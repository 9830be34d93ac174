"""gmsh builder for the ball with electrode rings (:class:`~femeit.geometry.specs.BallSpec`)."""

from __future__ import annotations

import math

import gmsh

from femeit.geometry.specs import BallSpec
from femeit.mesh.gmsh_session import distance_threshold, generate, minimum_field, use_size_fields_only


def spherical_cap_area(radius: float, electrode_radius: float) -> float:
    """Area of the part of a sphere inside a radial cylinder of radius ``electrode_radius``, m^2.

    That part is a spherical cap of height ``R - sqrt(R^2 - r^2)``, area ``2 pi R h``.
    """
    return 2 * math.pi * radius * (radius - math.sqrt(radius**2 - electrode_radius**2))


def build_ball(spec: BallSpec) -> None:
    """Add the ball, its electrodes and the optional inner sphere to the gmsh model, and mesh.

    Point electrodes are mesh vertices embedded in the sphere's surface.  Disk
    electrodes are caps cut from the surface by radial cylinders and imprinted
    with a boolean fragment.  Regions: ``domain`` and ``inclusion_inner``.
    """
    occ = gmsh.model.occ
    ball = occ.addSphere(0, 0, 0, spec.radius)
    occ.synchronize()
    surface = gmsh.model.getBoundary([(3, ball)], oriented=False)
    centres = spec.electrode_centres()
    if spec.electrode_radius > 0:
        tools = []
        for c in centres:
            unit = [v / spec.radius for v in c]
            start = [0.5 * spec.radius * u for u in unit]
            axis = [spec.radius * u for u in unit]
            tool = occ.addCylinder(*start, *axis, spec.electrode_radius)
            pieces, _ = occ.intersect(surface, [(3, tool)], removeObject=False, removeTool=True)
            tools.append(list(pieces))
    else:
        tools = [[(0, occ.addPoint(*c))] for c in centres]
    inner = [(3, occ.addSphere(0, 0, 0, spec.inner_radius))] if spec.inner_radius > 0 else []
    flat = [p for ps in tools for p in ps]
    _, frag_map = occ.fragment([(3, ball)], flat + inner)
    occ.synchronize()
    new = {flat[i]: [t for _, t in frag_map[1 + i]] for i in range(len(flat))}
    electrodes = [sorted({t for p in ps for t in new[p]}) for ps in tools]
    inner_volumes = [t for _, t in frag_map[1 + len(flat)]] if inner else []
    background = sorted({t for _, t in gmsh.model.getEntities(3)} - set(inner_volumes))
    if spec.electrode_radius == 0:
        # Points are not attached to the curved surface by the fragment; embed them.
        outer = [
            t
            for d, t in gmsh.model.getBoundary([(3, v) for v in background], oriented=False)
            if abs(occ.getMass(2, abs(t)) - 4 * math.pi * spec.radius**2) < 1e-6 * spec.radius**2
        ]
        gmsh.model.mesh.embed(0, [ts[0] for ts in electrodes], 2, abs(outer[0]))

    gmsh.model.addPhysicalGroup(3, background, name="domain")
    if inner_volumes:
        gmsh.model.addPhysicalGroup(3, inner_volumes, name="inclusion_inner")
    electrode_dim = 2 if spec.electrode_radius > 0 else 0
    for k, tags in enumerate(electrodes):
        gmsh.model.addPhysicalGroup(electrode_dim, tags, name=f"e{k + 1:02d}")

    use_size_fields_only()
    h, h_el = spec.mesh_size, spec.electrode_mesh_size
    key = "SurfacesList" if electrode_dim == 2 else "PointsList"
    fields = [distance_threshold({key: [t for ts in electrodes for t in ts]}, h_el, h, h_el, 4 * h)]
    if inner_volumes:
        faces = [abs(t) for _, t in gmsh.model.getBoundary([(3, v) for v in inner_volumes], oriented=False)]
        h_in = min(h, spec.inner_radius / 5)  # faceted sphere within about 2 % in volume
        fields.append(distance_threshold({"SurfacesList": faces}, h_in, h, h_in, 3 * h))
    minimum_field(fields)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)
    generate(3, f"the ball of radius {spec.radius}")
