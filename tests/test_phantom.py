import numpy as np
import pytest

import femeit as fe
from femeit.phantom import Annulus, Box, Disk, HalfSpace, Phantom, Sphere, VerticalCylinder


@pytest.fixture(scope="module")
def disk():
    return fe.mesh_from_spec(fe.CircleSpec(radius=1.0, h=0.05))


def test_area_fractions_match_exact_areas(disk):
    area = disk.element_measures()
    for shape, exact in [
        (Disk((0.2, -0.1), 0.3), np.pi * 0.09),
        (Annulus((0.0, 0.0), 0.4, 0.6), np.pi * (0.36 - 0.16)),
        (Box((-0.3, -0.2), (0.1, 0.4)), 0.4 * 0.6),
    ]:
        sigma = Phantom(1.0, ((shape, 3.0),)).on_mesh(disk, level=4)
        inside = (sigma - 1.0) / 2.0  # fraction of each element inside the shape
        assert np.all((inside >= -1e-12) & (inside <= 1 + 1e-12))
        assert abs(inside @ area - exact) < 0.01 * exact


def test_later_shapes_override_and_points(disk):
    ph = Phantom(1.0, ((Disk((0, 0), 0.5), 2.0), (HalfSpace((0, 1), 0.0), 5.0)))
    values = ph.evaluate(np.array([[0.0, -0.2], [0.0, 0.2], [0.9, -0.1]]))
    assert values.tolist() == [2.0, 5.0, 1.0]
    from femeit.grids import PixelGrid

    grid = PixelGrid(disk, shape=(16, 16))
    on_grid = ph.on_grid(grid, disk)
    assert on_grid.shape == (grid.n_params,) and on_grid.min() > 1.0 - 1e-12 and on_grid.max() < 5.0 + 1e-12


def test_3d_shapes():
    pts = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 2.0], [0.5, 0.5, 0.5]])
    assert VerticalCylinder((0, 0), 0.2, 0.0, 1.0).contains(pts).tolist() == [True, False, False]
    assert Sphere((0, 0, 0.5), 0.1).contains(pts).tolist() == [True, False, False]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Phantom(-1.0), "background"),
        (lambda: Phantom(1.0, ((Disk((0, 0), 0.1), 0.0),)), "inclusion 0"),
        (lambda: Disk((0, 0), -1.0), "radius"),
        (lambda: Annulus((0, 0), 0.5, 0.4), "inner < outer"),
        (lambda: Box((0, 0), (1, -1)), "lower < upper"),
        (lambda: Phantom(1.0, ((Disk((0, 0), 0.1), 2.0), (Sphere((0, 0, 0), 0.1), 2.0))), "dimension"),
        (lambda: Phantom(1.0, ("disk",)), "pair"),
    ],
)
def test_bad_phantoms(make, message):
    with pytest.raises(fe.FemeitError, match=message):
        make()


def test_dimension_mismatch(disk):
    with pytest.raises(fe.FemeitError, match="3D"):
        Phantom(1.0, ((Sphere((0, 0, 0), 0.1), 2.0),)).on_mesh(disk)
