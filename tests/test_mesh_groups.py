"""Named groups are stored once on EITMesh and mirrored into scikit-fem's boundaries and subdomains."""

import numpy as np
import pytest

import femeit as fe
from femeit.mesh import facet_indices


@pytest.fixture(scope="module")
def disk():
    return fe.mesh_from_spec(fe.CircleSpec(h=0.2, inclusions=(fe.CircleInclusion(0.3, 0.0, 0.2),)))


def test_electrodes_and_regions_are_mirrored_into_scikit_fem(disk):
    m = disk.mesh
    assert set(m.boundaries) == {e.name for e in disk.electrodes}
    for k, e in enumerate(disk.electrodes):
        idx = disk.electrode_facets(k)
        np.testing.assert_array_equal(idx, m.boundaries[e.name])
        # The facets scikit-fem knows by that name are the electrode's facets, in the same order.
        np.testing.assert_array_equal(np.sort(m.facets[:, idx].T, axis=1), np.sort(e.facets, axis=1))
    assert set(m.subdomains) == set(disk.region_names)
    for i, name in enumerate(disk.region_names):
        np.testing.assert_array_equal(m.subdomains[name], np.flatnonzero(disk.element_region == i))
        np.testing.assert_array_equal(disk.region(name), m.subdomains[name])


def test_facet_indices_refuses_facets_that_are_not_in_the_mesh(disk):
    not_a_facet = np.array([[0, disk.n_nodes - 1]])
    with pytest.raises(fe.MeshContractError, match="not facets of the mesh"):
        facet_indices(disk.mesh, not_a_facet)


def test_from_arrays_meshes_get_the_mirror_too():
    nodes = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.5]])
    elements = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    mesh = fe.EITMesh.from_arrays(nodes, elements, [[0, 1], [2, 3]], regions={"inclusion_a": [0]})
    assert list(mesh.mesh.boundaries) == ["e01", "e02"]
    np.testing.assert_array_equal(mesh.mesh.subdomains["inclusion_a"], [0])
    np.testing.assert_array_equal(mesh.mesh.subdomains["domain"], [1, 2, 3])
