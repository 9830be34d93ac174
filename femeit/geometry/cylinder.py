"""gmsh builder for the 3D cylindrical tank (:class:`~femeit.geometry.specs.CylinderSpec`)."""

from __future__ import annotations

import math

import gmsh
import numpy as np

from femeit.geometry.specs import (
    BoxInclusion,
    CylinderInclusion,
    CylinderSpec,
    ElectrodeRing,
    SphereInclusion,
)
from femeit.geometry.tank_groups import fragment_and_name
from femeit.mesh.gmsh_session import mesh_tank_3d


def circular_patch_area(tank_radius: float, electrode_radius: float) -> float:
    """Area of the wall of a cylinder inside a radial cylinder of radius ``electrode_radius``, m^2.

    A circular electrode on a curved wall is the set of wall points whose
    distance to the electrode's radial axis is below its radius.  Parametrising
    the wall by the chord coordinate s = R sin(theta) and height z, the area is
    the integral over the disk s^2 + z^2 <= r^2 of 1 / sqrt(1 - s^2 / R^2), which
    we evaluate exactly in z and with Gauss-Legendre quadrature in s.
    """
    nodes, weights = np.polynomial.legendre.leggauss(64)
    # Substitute s = r sin(t) to remove the square-root endpoint singularity of the disk.
    t = nodes * math.pi / 2
    s = electrode_radius * np.sin(t)
    chord = 2 * electrode_radius * np.cos(t)  # height of the disk at s
    integrand = chord / np.sqrt(1 - (s / tank_radius) ** 2) * electrode_radius * np.cos(t)
    return float(np.sum(weights * integrand) * math.pi / 2)


def _electrode_tool(spec: CylinderSpec, ring: ElectrodeRing, angle_deg: float) -> tuple[int, int]:
    """A solid whose intersection with the wall is the electrode patch."""
    occ = gmsh.model.occ
    a = math.radians(angle_deg)
    ux, uy = math.cos(a), math.sin(a)
    r = spec.radius
    if ring.shape == "circle":
        tag = occ.addCylinder(0.5 * r * ux, 0.5 * r * uy, ring.z, r * ux, r * uy, 0.0, ring.electrode_radius)
        return (3, tag)
    # A box straddling the wall; its sides at +-R sin(w / 2R) cut the wall at
    # exactly +-w/2 of arc length.
    half_chord = r * math.sin(ring.electrode_width / (2 * r))
    tag = occ.addBox(0.5 * r, -half_chord, ring.z - ring.electrode_height / 2, r, 2 * half_chord, ring.electrode_height)
    occ.rotate([(3, tag)], 0, 0, 0, 0, 0, 1, a)
    return (3, tag)


def _inclusion_solid(inc) -> int:
    occ = gmsh.model.occ
    if isinstance(inc, SphereInclusion):
        return occ.addSphere(inc.x, inc.y, inc.z, inc.radius)
    if isinstance(inc, CylinderInclusion):
        return occ.addCylinder(inc.x, inc.y, inc.z0, 0, 0, inc.z1 - inc.z0, inc.radius)
    assert isinstance(inc, BoxInclusion)
    return occ.addBox(inc.x0, inc.y0, inc.z0, inc.x1 - inc.x0, inc.y1 - inc.y0, inc.z1 - inc.z0)


def build_cylinder(spec: CylinderSpec) -> None:
    """Add the tank, its wall electrodes and inclusions to the current gmsh model and mesh it.

    Each electrode patch is the intersection of the tank's lateral face with a
    tool solid (a radial cylinder or a box), imprinted on the tank by a boolean
    fragment so the mesh is conformal to the electrode edges.  A patch cut by
    the wall's seam is two surfaces in one physical group.
    """
    occ = gmsh.model.occ
    tank = occ.addCylinder(0, 0, 0, 0, 0, spec.height, spec.radius)
    occ.synchronize()
    wall = [
        (d, t) for d, t in gmsh.model.getBoundary([(3, tank)], oriented=False) if gmsh.model.getType(d, t) == "Cylinder"
    ]
    # One intersection per electrode, so each patch is known to belong to its
    # electrode (OCC does not report which tool produced which piece).
    patches = []
    for ring in spec.rings:
        for angle in ring.angles_deg():
            tool = _electrode_tool(spec, ring, angle)
            pieces, _ = occ.intersect(wall, [tool], removeObject=False, removeTool=True)
            patches.append(list(pieces))
    inclusions = [(3, _inclusion_solid(inc)) for inc in spec.inclusions]
    electrode_surfaces, inclusion_volumes = fragment_and_name(
        tank, patches, inclusions, "CylinderSpec", spec.inclusions
    )

    h = spec.mesh_size
    # A tenth of the smallest dimension (a fifth of a sphere's radius) keeps
    # the faceted inclusion's volume within about 2 %.
    h_inc = min([h] + [_smallest_dimension(inc) / 10 for inc in spec.inclusions])
    mesh_tank_3d(
        [s for ss in electrode_surfaces for s in ss],
        [v for vs in inclusion_volumes for v in vs],
        (h, spec.electrode_mesh_size, h_inc),
        f"the cylinder of radius {spec.radius} and height {spec.height}",
    )


def _smallest_dimension(inc) -> float:
    if isinstance(inc, SphereInclusion | CylinderInclusion):
        return 2 * inc.radius if isinstance(inc, SphereInclusion) else min(2 * inc.radius, inc.z1 - inc.z0)
    return min(inc.x1 - inc.x0, inc.y1 - inc.y0, inc.z1 - inc.z0)
