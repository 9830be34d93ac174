"""Geometry specifications, gmsh builders and the mesh cache (built on :mod:`femeit.mesh`)."""

from femeit.geometry.curved import QuadricSurface, curved_mesh, spec_spheres, spec_surfaces
from femeit.geometry.meshing import mesh_from_spec
from femeit.geometry.outline import Outline
from femeit.geometry.outline_specs import (
    ContourSpec,
    EllipseInclusion,
    EllipsoidInclusion,
    ExtrudedSpec,
    OutlineRing,
    PolygonInclusion,
    PrismInclusion,
)
from femeit.geometry.spec_io import load_spec, spec_from_dict, spec_to_dict
from femeit.geometry.specs import (
    BallRing,
    BallSpec,
    BoxInclusion,
    CircleInclusion,
    CircleSpec,
    CylinderInclusion,
    CylinderSpec,
    ElectrodeRing,
    HalfspaceLineSpec,
    SphereInclusion,
)

__all__ = [
    "BallRing",
    "BallSpec",
    "BoxInclusion",
    "CircleInclusion",
    "CircleSpec",
    "ContourSpec",
    "CylinderInclusion",
    "CylinderSpec",
    "ElectrodeRing",
    "EllipseInclusion",
    "EllipsoidInclusion",
    "ExtrudedSpec",
    "HalfspaceLineSpec",
    "Outline",
    "OutlineRing",
    "PolygonInclusion",
    "PrismInclusion",
    "QuadricSurface",
    "SphereInclusion",
    "curved_mesh",
    "load_spec",
    "mesh_from_spec",
    "spec_from_dict",
    "spec_spheres",
    "spec_surfaces",
    "spec_to_dict",
]
