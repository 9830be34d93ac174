"""Dispatch a geometry spec to its gmsh builder."""

from __future__ import annotations

from femeit.errors import SpecError
from femeit.geometry.ball import build_ball
from femeit.geometry.circle import build_circle
from femeit.geometry.cylinder import build_cylinder
from femeit.geometry.halfspace import build_halfspace_line
from femeit.geometry.kinds import SPEC_TYPES, Spec
from femeit.geometry.outline_build import build_contour, build_extruded
from femeit.geometry.spec_checks import check_buildable
from femeit.limits import check_mesh_size
from femeit.mesh.gmsh_session import MeshGroups, extract_groups, gmsh_session

BUILDERS = {
    "circle": build_circle,
    "cylinder": build_cylinder,
    "halfspace_line": build_halfspace_line,
    "ball": build_ball,
    "contour": build_contour,
    "extruded": build_extruded,
}


def build_groups(spec: Spec) -> MeshGroups:
    """Mesh ``spec`` with gmsh and return its physical groups as arrays."""
    kind = getattr(spec, "kind", None)
    if kind not in BUILDERS or not isinstance(spec, SPEC_TYPES[kind]):
        raise SpecError(f"not a geometry spec: {type(spec).__name__} (expected one of {sorted(BUILDERS)})")
    check_buildable(spec)
    check_mesh_size(spec)
    with gmsh_session(kind):
        BUILDERS[kind](spec)
        return extract_groups()
