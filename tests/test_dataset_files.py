"""Issue 20, item 4: dataset configs that take a mesh file (physical-group contract) and a protocol table."""

from __future__ import annotations

import numpy as np
import pytest

import femeit as fe
from femeit import datasets
from femeit.forward import ForwardModel
from femeit.phantom import Disk, Phantom
from femeit.protocol import Protocol

pytest.importorskip("zarr")

PHANTOM = """
[phantom]
background = 0.05
conductivity = [1e-3, 1.0]
radius = [0.15, 0.3]
margin = 0.05
n_objects = [1, 2]
[image]
shape = [16, 16]
"""

SPEC = fe.CircleSpec(radius=1.0, n_electrodes=12, electrode_width=0.12, h=0.2, h_electrode=0.08)


@pytest.fixture(scope="module")
def mesh_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("meshfile")
    mesh = fe.mesh_from_spec(SPEC)
    fe.write_mesh(mesh, folder / "tank.msh")
    return folder / "tank.msh", mesh


def _write(folder, sensor: str, forward: str = "") -> object:
    path = folder / "c.toml"
    path.write_text(f"seed = 7\n[sensor]\n{sensor}\n[forward]\ncontact_impedance = 0.01\n{forward}\n{PHANTOM}")
    return path


def _simulate(mesh, protocol, objects, background=0.05):
    phantom = Phantom(
        background, tuple((Disk(tuple(row[:2]), row[2]), row[3]) for row in objects if np.isfinite(row[0]))
    )
    return ForwardModel(mesh, protocol, 0.01).simulate(phantom.on_mesh(mesh, level=2))


def test_a_dataset_on_a_mesh_file_simulates_its_phantoms_on_that_mesh(mesh_file, tmp_path):
    path, mesh = mesh_file
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "tank.msh").write_bytes(path.read_bytes())
    config = datasets.load_config(_write(tmp_path, 'file = "meshes/tank.msh"'))  # relative to the TOML
    assert config.spec.kind == "mesh_file" and config.spec.n_electrodes == 12
    # The outline is the mesh's boundary: its vertices lie on the unit circle.
    radii = np.hypot(*np.asarray(config.spec.outline.points).T)
    assert np.allclose(radii, 1.0, atol=1e-9) and len(radii) >= 30
    store = tmp_path / "d.zarr"
    datasets.generate(config, store, 4, workers=1, chunk_size=2, progress=False)
    ds = datasets.open(store)
    protocol = Protocol.adjacent(12)
    for i in range(4):
        objects = ds.objects[i]
        assert np.all(np.hypot(objects[:, 0], objects[:, 1])[np.isfinite(objects[:, 0])] <= 1.0 - 0.05)
        # The same phantom on the spec's own mesh (the file's source) gives the stored readings.
        expected = _simulate(mesh, protocol, objects)
        np.testing.assert_allclose(ds.voltages_clean[i], expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    assert datasets.verify(store, n_check=1).ok


def test_a_changed_mesh_file_is_refused(mesh_file, tmp_path):
    path, _ = mesh_file
    local = tmp_path / "tank.msh"
    local.write_bytes(path.read_bytes())
    config = datasets.load_config(_write(tmp_path, 'file = "tank.msh"'))
    store = tmp_path / "d.zarr"
    datasets.generate(config, store, 2, workers=1, chunk_size=2, progress=False)
    local.write_bytes(
        local.read_bytes().replace(b"$EndMeshFormat", b"$EndMeshFormat\n$Comments\nedited\n$EndComments", 1)
    )
    with pytest.raises(fe.FemeitError, match="has changed since this dataset was configured"):
        datasets.verify(store)
    with pytest.raises(fe.FemeitError, match="not found"):
        datasets.load_config(_write(tmp_path, 'file = "missing.msh"'))


SPHERES = """
[phantom]
shape = "sphere"
background = 0.3
conductivity = [0.05, 3.0]
radius = [0.02, 0.04]
margin = 0.01
n_objects = [1, 2]
[image]
shape = [8, 12]
depth = 3
"""


def test_a_3d_tank_mesh_file_places_spheres_inside_it(tmp_path):
    from femeit.phantom import Sphere

    spec = fe.spec_from_dict(
        {
            "kind": "extruded",
            "outline": {"shape": "ellipse", "a": 0.15, "b": 0.1},
            "height": 0.2,
            "h": 0.06,
            "rings": [{"n_electrodes": 8, "shape": "rectangle", "width": 0.02, "height": 0.02, "z": 0.1}],
        }
    )
    mesh = fe.mesh_from_spec(spec)
    fe.write_mesh(mesh, tmp_path / "tank.msh")
    path = tmp_path / "c.toml"
    path.write_text('seed = 2\n[sensor]\nfile = "tank.msh"\n[forward]\nprotocol = "opposite"\n' + SPHERES)
    config = datasets.load_config(path)
    assert config.spec.dim == 3 and config.spec.height == pytest.approx(0.2)
    # The bottom face's polygon: vertices on the ellipse.
    x, y = np.asarray(config.spec.outline.points).T
    assert np.allclose((x / 0.15) ** 2 + (y / 0.1) ** 2, 1.0, atol=1e-6)
    store = tmp_path / "d.zarr"
    datasets.generate(config, store, 2, workers=1, chunk_size=2, progress=False)
    ds = datasets.open(store)
    assert ds.volumes.shape == (2, 3, 8, 12)
    protocol = Protocol.by_name("opposite", 8)
    for i in range(2):
        rows = [row for row in ds.objects[i] if np.isfinite(row[0])]
        assert all(0.01 + row[3] <= row[2] <= 0.2 - 0.01 - row[3] for row in rows)
        phantom = Phantom(0.3, tuple((Sphere(tuple(row[:3]), row[3]), row[4]) for row in rows))
        expected = ForwardModel(mesh, protocol, 0.01).simulate(phantom.on_mesh(mesh, level=2))
        np.testing.assert_allclose(ds.voltages_clean[i], expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


def test_a_3d_mesh_that_is_not_a_vertical_tank_is_refused(tmp_path):
    mesh = fe.mesh_from_spec(fe.spec_from_dict({"kind": "ball", "radius": 1.0, "h": 0.5}))
    fe.write_mesh(mesh, tmp_path / "ball.msh")
    with pytest.raises(fe.FemeitError, match="whose bottom is at z = -1"):
        datasets.load_config(_write(tmp_path, 'file = "ball.msh"'))


def test_a_protocol_table_from_a_file_is_embedded_in_the_dataset(tmp_path):
    abmn = np.array([[0, 6, 2, 3], [0, 6, 8, 9], [3, 9, 5, 6], [3, 9, 11, 0], [1, 7, 4, 10]])
    np.savetxt(tmp_path / "p.csv", abmn, fmt="%d", delimiter=",", header="A,B,M,N")
    sensor = 'kind = "circle"\nradius = 1.0\nn_electrodes = 12\nelectrode_width = 0.12\nh = 0.2\nh_electrode = 0.08'
    config = datasets.load_config(_write(tmp_path, sensor, 'protocol_file = "p.csv"'))
    assert config.protocol == "table" and config.protocol_table == {"abmn": abmn.tolist()}
    store = tmp_path / "d.zarr"
    datasets.generate(config, store, 2, workers=1, chunk_size=2, progress=False)
    (tmp_path / "p.csv").unlink()  # the table lives in the dataset's configuration
    ds = datasets.open(store)
    np.testing.assert_array_equal(ds.abmn, abmn)
    expected = _simulate(fe.mesh_from_spec(config.spec), Protocol.from_abmn(abmn, 12), ds.objects[0])
    np.testing.assert_allclose(ds.voltages_clean[0], expected, rtol=1e-10)
    assert "eim" not in ds.group and datasets.verify(store, n_check=1).ok
    # The same table inline gives the same configuration.
    inline = datasets.load_config(_write(tmp_path, sensor, f"abmn = {abmn.tolist()}"))
    assert datasets.config.config_json(inline) == datasets.config.config_json(config)


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        ("abmn = [[0, 1, 2, 12]]", "forward.abmn"),
        ('protocol = "adjacent"\nabmn = [[0, 1, 2, 3]]', "give one protocol"),
        ('protocol_file = "nope.csv"', "protocol file not found"),
        ("patterns = { injections = [[1, -1]] }", "forward.patterns"),
    ],
)
def test_bad_protocol_tables_are_named(tmp_path, forward, message):
    sensor = 'kind = "circle"\nradius = 1.0\nn_electrodes = 12\nelectrode_width = 0.12\nh = 0.2'
    with pytest.raises(fe.FemeitError, match=message):
        datasets.load_config(_write(tmp_path, sensor, forward))
