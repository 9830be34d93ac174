"""femeit: finite-element forward and inverse modelling for EIT and ERT.

The names here are the everyday surface: geometry specs and ``mesh_from_spec``,
``EITMesh`` and mesh files, ``Protocol``, ``ForwardModel``, the reconstruction
grids.  Solvers live in :mod:`femeit.inverse`, measured-data workflows in
:mod:`femeit.measured`, the KTC2023 data in :mod:`femeit.ktc2023`; see
``docs/architecture.md`` for the layers.

Heavy optional dependencies (pyvista, dask, torch) are imported only inside the
functions that need them, and gmsh only when a mesh is built or read.
"""

from femeit.errors import FemeitError, MeshContractError, MeshingError, SpecError
from femeit.forward import Discretization, ForwardModel
from femeit.geometry import (
    BallRing,
    BallSpec,
    BoxInclusion,
    CircleInclusion,
    CircleSpec,
    ContourSpec,
    CylinderInclusion,
    CylinderSpec,
    ElectrodeRing,
    EllipseInclusion,
    EllipsoidInclusion,
    ExtrudedSpec,
    HalfspaceLineSpec,
    Outline,
    OutlineRing,
    PolygonInclusion,
    PrismInclusion,
    SphereInclusion,
    load_spec,
    mesh_from_spec,
    spec_from_dict,
    spec_to_dict,
)
from femeit.grids import CoarseMeshGrid, ElementGrid, Grid, PixelGrid, SliceGrid, VoxelGrid
from femeit.mesh import EITMesh, Electrode, read_mesh, write_mesh
from femeit.protocol import Protocol

__version__ = "0.1.0"

__all__ = [
    "BallRing",
    "BallSpec",
    "BoxInclusion",
    "CircleInclusion",
    "CircleSpec",
    "CoarseMeshGrid",
    "ContourSpec",
    "CylinderInclusion",
    "CylinderSpec",
    "Discretization",
    "EITMesh",
    "Electrode",
    "ElectrodeRing",
    "ElementGrid",
    "EllipseInclusion",
    "EllipsoidInclusion",
    "ExtrudedSpec",
    "FemeitError",
    "ForwardModel",
    "Grid",
    "HalfspaceLineSpec",
    "MeshContractError",
    "MeshingError",
    "Outline",
    "OutlineRing",
    "PixelGrid",
    "PolygonInclusion",
    "PrismInclusion",
    "Protocol",
    "SliceGrid",
    "SpecError",
    "SphereInclusion",
    "VoxelGrid",
    "__version__",
    "load_spec",
    "mesh_from_spec",
    "read_mesh",
    "spec_from_dict",
    "spec_to_dict",
    "write_mesh",
]
