"""gmsh builder for a linear array on a half-space (:class:`~femeit.geometry.specs.HalfspaceLineSpec`)."""

from __future__ import annotations

import gmsh

from femeit.geometry.specs import HalfspaceLineSpec, inclusion_names
from femeit.mesh.gmsh_session import distance_threshold, generate, minimum_field, use_size_fields_only


def build_halfspace_line(spec: HalfspaceLineSpec) -> None:
    """Add the truncated half-space, its surface electrodes and buried inclusions, and mesh.

    2D: the section y <= 0 with electrodes on the line y = 0 (points, or segments
    of length ``electrode_width``).  3D: the box z <= 0 with electrodes on the
    plane z = 0 (points embedded in the surface, or disks of diameter
    ``electrode_width`` imprinted on it).  The element size grows from the
    electrodes, through the survey region, to ``h_far`` at the truncated faces.
    """
    occ = gmsh.model.occ
    (lo, hi), dim = spec.box(), spec.dim
    xs = spec.electrode_x()
    w = spec.electrode_width
    if dim == 2:
        body = occ.addRectangle(lo[0], lo[1], 0.0, hi[0] - lo[0], hi[1] - lo[1])
        if w > 0:
            tools = [(1, occ.addLine(occ.addPoint(x - w / 2, 0, 0), occ.addPoint(x + w / 2, 0, 0))) for x in xs]
        else:
            tools = [(0, occ.addPoint(x, 0, 0)) for x in xs]
        inclusions = [(2, occ.addDisk(inc.x, inc.y, 0, inc.radius, inc.radius)) for inc in spec.inclusions]
    else:
        body = occ.addBox(lo[0], lo[1], lo[2], hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2])
        if w > 0:
            tools = [(2, occ.addDisk(x, 0, 0, w / 2, w / 2)) for x in xs]
        else:
            tools = [(0, occ.addPoint(x, 0, 0)) for x in xs]
        inclusions = [(3, occ.addSphere(inc.x, inc.y, inc.z, inc.radius)) for inc in spec.inclusions]
    _, frag_map = occ.fragment([(dim, body)], tools + inclusions)
    occ.synchronize()
    electrodes = [[t for _, t in frag_map[1 + k]] for k in range(len(tools))]
    inclusion_parts = [[t for _, t in frag_map[1 + len(tools) + i]] for i in range(len(inclusions))]
    all_parts = {t for _, t in gmsh.model.getEntities(dim)}
    background = sorted(all_parts - {t for ts in inclusion_parts for t in ts})
    if w == 0 and dim == 3:
        # OCC leaves free points unattached to the box; embed them in the surface.
        eps = 1e-6 * (hi[0] - lo[0])
        top = [
            t
            for _, t in gmsh.model.getEntitiesInBoundingBox(
                lo[0] - eps, lo[1] - eps, -eps, hi[0] + eps, hi[1] + eps, eps, 2
            )
        ]
        points = [t for ts in electrodes for t in ts]
        gmsh.model.mesh.embed(0, points, 2, top[0])

    gmsh.model.addPhysicalGroup(dim, background, name="domain")
    for name, parts in zip(inclusion_names("HalfspaceLineSpec", spec.inclusions), inclusion_parts, strict=True):
        gmsh.model.addPhysicalGroup(dim, parts, name=name)
    electrode_dim = 0 if w == 0 else dim - 1
    for k, tags in enumerate(electrodes):
        gmsh.model.addPhysicalGroup(electrode_dim, tags, name=f"e{k + 1:02d}")

    use_size_fields_only()
    sizes = spec.sizes
    # The size grows linearly with the distance d from the electrodes,
    # h_electrode + GRADING * d, up to h_far; inside the survey box it is capped
    # at h_survey.  Linear growth keeps the far field cheap in 3D.
    grading = 0.35
    ramp = (sizes["far"] - sizes["electrode"]) / grading
    key = {0: "PointsList", 1: "CurvesList", 2: "SurfacesList"}[electrode_dim]
    near = distance_threshold(
        {key: [t for ts in electrodes for t in ts]},
        sizes["electrode"],
        sizes["far"],
        sizes["electrode"] / 2,
        sizes["electrode"] / 2 + ramp,
    )
    survey = gmsh.model.mesh.field.add("Box")
    half = spec.array_length / 2 + spec.spacing
    gmsh.model.mesh.field.setNumber(survey, "VIn", sizes["survey"])
    gmsh.model.mesh.field.setNumber(survey, "VOut", sizes["far"])
    gmsh.model.mesh.field.setNumber(survey, "XMin", spec.centre_x - half)
    gmsh.model.mesh.field.setNumber(survey, "XMax", spec.centre_x + half)
    if dim == 2:
        gmsh.model.mesh.field.setNumber(survey, "YMin", -spec.depth_of_survey)
        gmsh.model.mesh.field.setNumber(survey, "YMax", 0.0)
    else:
        # A line array sees little of the ground off its axis: a narrower box.
        gmsh.model.mesh.field.setNumber(survey, "YMin", -spec.depth_of_survey - spec.spacing)
        gmsh.model.mesh.field.setNumber(survey, "YMax", spec.depth_of_survey + spec.spacing)
        gmsh.model.mesh.field.setNumber(survey, "ZMin", -spec.depth_of_survey)
        gmsh.model.mesh.field.setNumber(survey, "ZMax", 0.0)
    # Blend from h_survey to h_far over the same linear ramp as the electrodes.
    gmsh.model.mesh.field.setNumber(survey, "Thickness", (sizes["far"] - sizes["survey"]) / grading)
    fields = [near, survey]
    if spec.inclusions:
        h_inc = spec.h_inclusion if spec.h_inclusion is not None else min(inc.radius for inc in spec.inclusions) / 6
        bounds = gmsh.model.getBoundary([(dim, t) for ts in inclusion_parts for t in ts], oriented=False)
        key_inc = "CurvesList" if dim == 2 else "SurfacesList"
        fields.append(
            distance_threshold(
                {key_inc: [abs(t) for _, t in bounds]},
                h_inc,
                sizes["far"],
                h_inc,
                h_inc + (sizes["far"] - h_inc) / grading,
            )
        )
    minimum_field(fields)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.option.setNumber("Mesh.Algorithm3D", 1)
    generate(dim, f"the {dim}D half-space with {spec.n_electrodes} electrodes")
