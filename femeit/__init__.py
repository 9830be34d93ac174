"""femeit: finite-element forward and inverse modelling for EIT and ERT.

Heavy optional dependencies (pyvista, dask, torch) are imported only inside the
functions that need them, and gmsh only when a mesh is built or read.
"""

from femeit.errors import FemeitError, MeshContractError, MeshingError, SpecError
from femeit.geometry import (
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
    load_spec,
    mesh_from_spec,
    spec_from_dict,
    spec_to_dict,
)
from femeit.mesh import EITMesh, Electrode, read_mesh, write_mesh

__version__ = "0.1.0"

__all__ = [
    "BallRing",
    "BallSpec",
    "BoxInclusion",
    "CircleInclusion",
    "CircleSpec",
    "CylinderInclusion",
    "CylinderSpec",
    "EITMesh",
    "Electrode",
    "ElectrodeRing",
    "FemeitError",
    "HalfspaceLineSpec",
    "MeshContractError",
    "MeshingError",
    "SpecError",
    "SphereInclusion",
    "__version__",
    "load_spec",
    "mesh_from_spec",
    "read_mesh",
    "spec_from_dict",
    "spec_to_dict",
    "write_mesh",
]
