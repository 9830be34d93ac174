"""The bottom layer: the EIT mesh with named electrodes and regions, and mesh files.

Nothing here knows about geometry specs or physics; :mod:`femeit.geometry`
builds meshes from specs on top of this package.
"""

from femeit.mesh.eitmesh import (
    EITMesh,
    Electrode,
    boundary_facets,
    element_measures,
    facet_indices,
    facet_measures,
)
from femeit.mesh.io import read_mesh, write_mesh

__all__ = [
    "EITMesh",
    "Electrode",
    "boundary_facets",
    "element_measures",
    "facet_indices",
    "facet_measures",
    "read_mesh",
    "write_mesh",
]
