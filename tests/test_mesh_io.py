"""EITMesh construction from files and arrays, export, and the physical-group contract."""

import meshio
import numpy as np
import pytest

import femeit as fe

SQUARE_GEO = """
SetFactory("OpenCASCADE");
Rectangle(1) = {{0, 0, 0, 1, 1}};
Mesh.MeshSizeMax = 0.1;
Physical Surface("{domain}") = {{1}};
{electrodes}
"""


def _geo(tmp_path, electrodes, domain="domain", name="square.geo"):
    path = tmp_path / name
    path.write_text(SQUARE_GEO.format(domain=domain, electrodes=electrodes))
    return path


def _same_mesh(a, b):
    assert np.array_equal(a.points, b.points)
    assert np.array_equal(a.elements, b.elements)
    assert np.array_equal(a.element_region, b.element_region)
    assert a.region_names == b.region_names
    assert len(a.electrodes) == len(b.electrodes)
    for x, y in zip(a.electrodes, b.electrodes, strict=True):
        assert x.name == y.name and x.node == y.node
        assert np.array_equal(np.sort(np.sort(x.facets, axis=1), axis=0), np.sort(np.sort(y.facets, axis=1), axis=0))
        assert x.size == pytest.approx(y.size, rel=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        fe.CircleSpec(h=0.1, inclusions=(fe.CircleInclusion(0.2, 0.1, 0.3),)),
        fe.CircleSpec(h=0.1, electrode_width=0.0),
        fe.CylinderSpec(h=0.025, inclusions=(fe.SphereInclusion(0.0, 0.0, 0.05, 0.02),)),
        fe.BallSpec(h=0.3),
    ],
    ids=["circle", "circle-points", "cylinder", "ball-points"],
)
def test_msh_round_trip_and_from_arrays(spec, tmp_path):
    mesh = fe.mesh_from_spec(spec)
    path = fe.write_mesh(mesh, tmp_path / "mesh.msh")
    _same_mesh(mesh, fe.read_mesh(path))
    regions = {name: mesh.region(name) for name in mesh.region_names}
    # Facet lists round-trip exactly; node lists rebuild the same facets (the EIDORS rule).
    by_facets = fe.EITMesh.from_arrays(
        mesh.points, mesh.elements, [e.facets if not e.is_point else [e.node] for e in mesh.electrodes], regions
    )
    _same_mesh(mesh, by_facets)
    by_nodes = fe.EITMesh.from_arrays(
        mesh.points,
        mesh.elements,
        [np.unique(e.facets) if not e.is_point else [e.node] for e in mesh.electrodes],
        regions,
    )
    _same_mesh(mesh, by_nodes)


@pytest.mark.parametrize("suffix", [".vtu", ".xdmf"])
def test_meshio_export_carries_regions_and_electrodes(suffix, tmp_path):
    mesh = fe.mesh_from_spec(fe.CircleSpec(h=0.1, inclusions=(fe.CircleInclusion(0, 0, 0.3),)))
    path = fe.write_mesh(mesh, tmp_path / f"mesh{suffix}")
    back = meshio.read(path)
    np.testing.assert_allclose(back.points[:, :2], mesh.points)
    region = np.concatenate(back.cell_data["region"])
    electrode = np.concatenate(back.cell_data["electrode"])
    assert np.array_equal(region[: mesh.n_elements], mesh.element_region)
    assert sorted(set(electrode[mesh.n_elements :])) == list(range(mesh.n_electrodes))


def test_user_geo_file_following_the_contract(tmp_path):
    path = _geo(tmp_path, 'Physical Curve("e01") = {1};\nPhysical Curve("e02") = {3};')
    mesh = fe.read_mesh(path)
    assert mesh.n_electrodes == 2 and mesh.dim == 2
    assert mesh.electrodes[0].size == pytest.approx(1.0)
    assert mesh.measure() == pytest.approx(1.0)


def test_eidors_style_electrode_names_are_accepted(tmp_path):
    path = _geo(tmp_path, 'Physical Curve("electrode-1") = {1};\nPhysical Curve("electrode-2") = {3};')
    mesh = fe.read_mesh(path)
    assert [e.name for e in mesh.electrodes] == ["e01", "e02"]


@pytest.mark.parametrize(
    ("electrodes", "domain", "words"),
    [
        ("", "domain", "no electrode groups"),
        ('Physical Curve("e01") = {1};\nPhysical Curve("e03") = {3};', "domain", r"gaps: missing \['e02'\]"),
        ('Physical Curve("e02") = {1};', "domain", r"gaps: missing \['e01'\]"),
        ('Physical Curve("e01") = {1};', "body", "named 'domain'"),
        ('Physical Curve("e01") = {1};\nPhysical Curve("electrode-1") = {3};', "domain", "defined twice"),
    ],
)
def test_contract_violations_are_named(tmp_path, electrodes, domain, words):
    path = _geo(tmp_path, electrodes, domain=domain)
    with pytest.raises(fe.MeshContractError, match=words):
        fe.read_mesh(path)


def test_msh_without_electrodes_is_rejected(tmp_path):
    mesh = fe.mesh_from_spec(fe.CircleSpec(h=0.2))
    cells = [("triangle", mesh.elements)]
    path = tmp_path / "bare.msh"
    meshio.write(
        path,
        meshio.Mesh(
            np.c_[mesh.points, np.zeros(mesh.n_nodes)],
            cells,
            cell_data={
                "gmsh:physical": [np.ones(mesh.n_elements, int)],
                "gmsh:geometrical": [np.ones(mesh.n_elements, int)],
            },
            field_data={"domain": np.array([1, 2])},
        ),
        file_format="gmsh22",
    )
    with pytest.raises(fe.MeshContractError, match="no electrode groups"):
        fe.read_mesh(path)


def test_missing_or_unreadable_files(tmp_path):
    with pytest.raises(fe.FemeitError, match="not found"):
        fe.read_mesh(tmp_path / "nothing.msh")
    junk = tmp_path / "junk.msh"
    junk.write_text("this is not a mesh")
    with pytest.raises(fe.FemeitError):
        fe.read_mesh(junk)


def _unit_square():
    nodes = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=float)
    elements = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    return nodes, elements


def test_from_arrays_eidors_rule_and_point_electrodes():
    nodes, elements = _unit_square()
    mesh = fe.EITMesh.from_arrays(nodes, elements, [[0, 1], [2], [2, 3, 0]])
    assert mesh.electrodes[0].size == pytest.approx(1.0)
    assert mesh.electrodes[1].is_point and mesh.electrodes[1].node == 2
    # Nodes 2, 3, 0 cover the top and left edges: 2 boundary facets.
    assert len(mesh.electrodes[2].facets) == 2 and mesh.electrodes[2].size == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"nodes": np.zeros((5, 4))}, r"shape \(n_nodes, 2\)"),
        ({"elements": np.array([[0, 1, 9]])}, "outside"),
        ({"elements": np.array([[0.0, 1.0, 4.0]])}, "must be integers"),
        ({"electrodes": [[0, 4]]}, "no boundary facet"),
        ({"electrodes": [np.array([[0, 4]])]}, "not on the outer boundary"),
        ({"electrodes": [[4]]}, "not on the boundary"),
        ({"electrodes": [[7, 8]]}, "outside"),
        ({"electrodes": []}, "at least one electrode"),
        ({"regions": {"inclusion_1": [0, 1], "inclusion_2": [1]}}, "overlaps"),
        (
            {
                "nodes": np.array([[0, 0], [1, 0], [2, 0], [0, 1], [0.5, 0.5]], float),
                "elements": np.array([[0, 1, 2]]),
                "electrodes": [[0, 1]],
            },
            "degenerate",
        ),
    ],
)
def test_from_arrays_rejects_bad_input(kwargs, words):
    nodes, elements = _unit_square()
    args = {"nodes": nodes, "elements": elements, "electrodes": [[0, 1]], **kwargs}
    with pytest.raises(fe.MeshContractError, match=words):
        fe.EITMesh.from_arrays(**args)


def test_bad_write_target_and_bad_spec_type(tmp_path):
    mesh = fe.mesh_from_spec(fe.CircleSpec(h=0.3))
    with pytest.raises(fe.FemeitError, match="meshio cannot write"):
        fe.write_mesh(mesh, tmp_path / "mesh.unknownformat")
    with pytest.raises(fe.FemeitError, match="needs a geometry spec"):
        fe.mesh_from_spec("geometries/smdr_disk.toml")
