"""Issue 22, meshes: cache entries verified, imported meshes checked, specs gmsh cannot mesh refused, size guards."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from robust_common import ROOT

import femeit as fe
from femeit.errors import FemeitError, MeshContractError, MeshingError, SpecError
from femeit.geometry.cache import MeshCache
from femeit.limits import check_mesh_size, estimate_elements, large_allowed

SMALL = {"h": 0.2, "h_electrode": 0.05}


# ------------------------------------------------------------------ cache


def _entry(spec, folder):
    fe.mesh_from_spec(spec, cache_dir=folder)
    return MeshCache(folder).path(spec)


def test_edited_cache_entry_is_rebuilt_with_a_warning(tmp_path):
    spec = fe.CircleSpec(**SMALL)
    path = _entry(spec, tmp_path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["points"] = arrays["points"] * 1.5  # the edit the issue made: area 7.07 instead of 3.14
    np.savez(path, **arrays)
    with pytest.warns(RuntimeWarning, match="modified after it was written"):
        mesh = fe.mesh_from_spec(spec, cache_dir=tmp_path)
    assert not mesh.info["cache_hit"]
    assert abs(mesh.measure() - math.pi) < 0.05
    # The rebuilt entry is served again, silently.
    assert fe.mesh_from_spec(spec, cache_dir=tmp_path).info["cache_hit"]


def test_another_specs_cache_entry_is_never_served(tmp_path):
    eight, sixteen = fe.CircleSpec(n_electrodes=8, **SMALL), fe.CircleSpec(n_electrodes=16, **SMALL)
    shutil.copyfile(_entry(eight, tmp_path), MeshCache(tmp_path).path(sixteen))
    with pytest.warns(RuntimeWarning, match="belongs to another spec"):
        mesh = fe.mesh_from_spec(sixteen, cache_dir=tmp_path)
    assert mesh.n_electrodes == 16


def test_truncated_cache_entry_is_rebuilt(tmp_path):
    spec = fe.CircleSpec(**SMALL)
    path = _entry(spec, tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        mesh = fe.mesh_from_spec(spec, cache_dir=tmp_path)
    assert mesh.n_electrodes == 16 and not mesh.info["cache_hit"]


def test_unwritable_cache_falls_back_to_no_cache(tmp_path):
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("")
    with pytest.warns(RuntimeWarning, match="continuing without it"):
        mesh = fe.mesh_from_spec(fe.CircleSpec(**SMALL), cache_dir=blocker / "sub")
    assert mesh.n_elements > 0


# -------------------------------------------------------- imported meshes


def _msh(tmp_path, electrodes: dict[str, int], recombine=(), name="m"):
    """Two unit squares side by side (``domain`` and ``inclusion_1``) written as a .msh.

    Built with gmsh's API (not a .geo file) so no parser state is shared with
    other tests.  ``electrodes`` maps a group name to a boundary curve (6 is the
    left side, 3 the right); ``recombine`` lists surfaces meshed with quadrilaterals.
    """
    import gmsh

    from femeit.mesh.gmsh_session import gmsh_session

    msh = tmp_path / f"{name}.msh"
    with gmsh_session(name):
        _squares(electrodes, recombine)
        gmsh.model.mesh.generate(2)
        gmsh.write(str(msh))
    return msh


def _squares(electrodes, recombine):
    """Add the two squares, their regions and electrode groups to the open gmsh model."""
    import gmsh

    geo = gmsh.model.geo
    for k, (x, y) in enumerate([(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)], start=1):
        geo.addPoint(x, y, 0, 0.25, k)
    for k, (a, b) in enumerate([(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 1), (2, 5)], start=1):
        geo.addLine(a, b, k)
    geo.addCurveLoop([1, 7, 5, 6], 1)
    geo.addPlaneSurface([1], 1)
    geo.addCurveLoop([2, 3, 4, -7], 2)
    geo.addPlaneSurface([2], 2)
    geo.synchronize()
    for surface in recombine:
        gmsh.model.mesh.setRecombine(2, surface)
    gmsh.model.addPhysicalGroup(2, [1], name="domain")
    gmsh.model.addPhysicalGroup(2, [2], name="inclusion_1")
    for group, curve in electrodes.items():
        gmsh.model.addPhysicalGroup(1, [curve], name=group)


def test_quadrilaterals_in_an_imported_mesh_are_refused_by_name(tmp_path):
    msh = _msh(tmp_path, {"e01": 6, "e02": 3}, recombine=(2,))
    with pytest.raises(MeshContractError, match="Quadrilateral"):
        fe.read_mesh(msh)


def test_meshing_into_quadrilaterals_only_is_a_meshing_error_that_names_them():
    from femeit.mesh.gmsh_session import generate, gmsh_session

    with gmsh_session("quads"):
        _squares({"e01": 6, "e02": 3}, recombine=(1, 2))
        with pytest.raises(MeshingError, match="Quadrilateral"):
            generate(2, "two recombined squares")


def test_two_electrode_groups_on_one_curve_are_refused(tmp_path):
    msh = _msh(tmp_path, {"e01": 6, "e02": 6})
    with pytest.raises(MeshContractError, match="share"):
        fe.read_mesh(msh)


def test_electrodes_numbered_from_zero_get_a_clear_message(tmp_path):
    msh = _msh(tmp_path, {"e00": 6, "e01": 3})
    with pytest.raises(MeshContractError, match="numbered 0"):
        fe.read_mesh(msh)


def _square(offset=0.0):
    nodes = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float) + offset
    elements = np.array([[0, 1, 2], [0, 2, 3]])
    return nodes, elements


def test_duplicated_elements_are_refused():
    nodes, elements = _square()
    with pytest.raises(MeshContractError, match="duplicated"):
        fe.EITMesh.from_arrays(nodes, np.vstack([elements, elements[:1]]), [[0, 1], [2, 3]])
    with pytest.raises(MeshContractError, match="duplicated"):
        fe.EITMesh.from_arrays(nodes, np.vstack([elements, elements[:1, ::-1]]), [[0, 1], [2, 3]])


def test_degenerate_elements_are_refused():
    nodes = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0]], float)
    elements = np.array([[0, 1, 2], [0, 2, 3], [0, 1, 4]])  # the last is flat
    with pytest.raises(MeshContractError, match="degenerate"):
        fe.EITMesh.from_arrays(nodes, elements, [[0, 3], [2, 3]])


def test_small_sound_elements_in_a_large_mesh_are_accepted():
    """Degeneracy is judged per element: a 1 mm corner triangle in a 10 km square is sound.

    A threshold relative to the whole mesh (1e-14 of its bounding box) refused
    it, as it refused 5 cm tetrahedra at a small sphere in a 600 m half-space.
    """
    nodes = np.array([[0, 0], [1e4, 0], [1e4, 1e4], [0, 1e4], [1e-3, 0], [0, 1e-3]])
    elements = np.array([[0, 4, 5], [4, 1, 2], [4, 2, 5], [5, 2, 3]])
    mesh = fe.EITMesh.from_arrays(nodes, elements, [[1, 2], [2, 3]])
    assert mesh.n_elements == 4
    flat = np.vstack([nodes, [[5e3, 1e-7]]])  # a sliver along the bottom edge, 1e-7 m high
    with pytest.raises(MeshContractError, match="1 degenerate"):
        fe.EITMesh.from_arrays(flat, np.vstack([elements, [[4, 1, 6]]]), [[1, 2], [2, 3]])


def test_overlapping_electrodes_in_from_arrays_are_refused():
    nodes, elements = _square()
    with pytest.raises(MeshContractError, match="share"):
        fe.EITMesh.from_arrays(nodes, elements, [[0, 1], [0, 1]])


@pytest.mark.parametrize("indices", [[0.5], [1.7], ["a"]])
def test_non_integer_region_indices_are_refused(indices):
    nodes, elements = _square()
    with pytest.raises(MeshContractError, match="whole element indices"):
        fe.EITMesh.from_arrays(nodes, elements, [[0, 1], [2, 3]], regions={"inclusion_1": indices})


def test_boolean_region_mask_is_read_as_a_mask():
    nodes, elements = _square()
    mesh = fe.EITMesh.from_arrays(nodes, elements, [[0, 1], [2, 3]], regions={"inclusion_1": [False, True]})
    assert mesh.region("inclusion_1").tolist() == [1]


def test_floating_island_is_warned_about():
    a_nodes, a_elements = _square()
    b_nodes, b_elements = _square(offset=5.0)
    nodes = np.vstack([a_nodes, b_nodes])
    elements = np.vstack([a_elements, b_elements + 4])
    with pytest.warns(RuntimeWarning, match="touch no electrode") as record:
        fe.EITMesh.from_arrays(nodes, elements, [[0, 1], [2, 3]])
    assert record[0].filename == __file__  # the caller's line, not femeit's


# ------------------------------------------------------------------ specs


def test_huge_first_angle_is_reduced_and_spacing_kept():
    spec = fe.CircleSpec(first_angle_deg=1e17, **SMALL)
    assert 0 <= abs(spec.first_angle_deg) < 360
    mesh = fe.mesh_from_spec(spec, cache=False)
    angles = np.degrees(np.unwrap([math.atan2(e.centre[1], e.centre[0]) for e in mesh.electrodes]))
    assert np.allclose(np.diff(angles), 22.5, atol=0.05)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: fe.CircleSpec(radius=1e-7, electrode_width=1e-8), "domain size"),
        (lambda: fe.CircleSpec(electrode_width=1e-8), "electrode_width"),
        (lambda: fe.CircleSpec(inclusions=(fe.CircleInclusion(0, 0, 1e-9),)), r"inclusions\[0\].radius"),
        (lambda: fe.CylinderSpec(rings=(fe.ElectrodeRing(z=0.05, electrode_radius=1e-9),)), "electrode_radius"),
        (lambda: fe.CircleSpec(n_electrodes=1), "at least 2"),
        (lambda: fe.CircleSpec(n_electrodes=100_000, electrode_width=1e-5), "more than femeit supports"),
    ],
)
def test_specs_gmsh_cannot_mesh_are_spec_errors(make, words):
    with pytest.raises(SpecError, match=words):
        fe.mesh_from_spec(make(), cache=False)


def test_halfspace_dim_must_be_a_whole_number():
    with pytest.raises(SpecError, match="dim must be 2 or 3"):
        fe.HalfspaceLineSpec(dim=2.0)


# ------------------------------------------------------------ size guards


@pytest.mark.parametrize(
    "spec",
    [
        fe.CircleSpec(h=1e-5),
        fe.CircleSpec(h_electrode=1e-9),
        fe.CylinderSpec(h=1e-4),
    ],
)
def test_huge_meshes_are_refused_with_the_estimate(spec):
    with pytest.raises(FemeitError, match=r"about [0-9.e+]+ elements.*--force"):
        fe.mesh_from_spec(spec, cache=False)
    with large_allowed():
        check_mesh_size(spec)  # --force lifts the limit


@pytest.mark.parametrize("name", ["cnn_eim_disk", "kgpsr_cylinder", "ball_ring", "gasulla2005_halfspace"])
def test_element_estimate_is_within_a_factor_of_four_of_gmsh(name):
    from femeit.geometry.spec_io import load_spec

    spec = load_spec(ROOT / "geometries" / f"{name}.toml")
    actual = fe.mesh_from_spec(spec).n_elements
    assert actual / 4 < estimate_elements(spec) < 4 * actual
