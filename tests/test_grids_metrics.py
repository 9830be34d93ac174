"""Reconstruction grids and image metrics."""

import numpy as np
import pytest

import femeit as fe
from femeit import metrics
from femeit.grids import CoarseMeshGrid, ElementGrid, PixelGrid, SliceGrid, VoxelGrid


@pytest.fixture(scope="module")
def disk():
    return fe.mesh_from_spec(fe.CircleSpec(h=0.06))


def _check_conservation(grid, mesh):
    rows = np.asarray(grid.P.sum(axis=1)).ravel()
    assert np.all((np.abs(rows - 1) < 1e-12) | (rows < 1 - 1e-12))
    # Total measure conserved: the parameters' measures add up to the covered mesh measure.
    covered = (rows * mesh.element_measures()).sum()
    assert grid.measures.sum() == pytest.approx(covered, rel=1e-12)


def test_pixel_grid_on_a_disk(disk):
    grid = PixelGrid(disk, (-1, 1, -1, 1), (32, 32))
    _check_conservation(grid, disk)
    rows = np.asarray(grid.P.sum(axis=1)).ravel()
    np.testing.assert_allclose(rows, 1.0)  # the square covers the disk
    assert grid.measures.sum() == pytest.approx(disk.measure(), rel=1e-12)
    # Interior pixels have their full area; the disk keeps about pi/4 of the 1024 pixels.
    full = (2 / 32) ** 2
    assert np.median(grid.measures) == pytest.approx(full, rel=0.01)  # sampled fractions, level 3
    assert 0.75 * 1024 < grid.n_params < 0.85 * 1024
    # A known image round-trips, and the image puts +y at the top.
    x = grid.centres[:, 1]
    img = grid.to_image(x)
    assert img.shape == (32, 32) and np.nanmean(img[0]) > 0.9 and np.nanmean(img[-1]) < -0.9
    np.testing.assert_array_equal(grid.from_image(img), x)
    # Elements -> parameters -> elements reproduces a piecewise-constant-per-pixel field.
    sigma = grid.to_elements(x)
    np.testing.assert_allclose(grid.from_elements(sigma), x, atol=0.1)


def test_overlap_fractions_against_exact_geometry():
    # Triangles split by a pixel boundary: the sampled fractions approach the exact areas.
    nodes = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    mesh = fe.EITMesh.from_arrays(nodes, np.array([[0, 1, 2], [1, 3, 2]]), [[0, 1]])
    grid = PixelGrid(mesh, (0, 1, 0, 1), (2, 1), level=5)
    # Triangle (0,0),(1,0),(0,1): 3/4 of its area lies left of x = 0.5.
    left = np.argmin(grid.centres[:, 0])
    assert grid.P[0, left] == pytest.approx(0.75, abs=2**-5)
    assert grid.P[1, left] == pytest.approx(0.25, abs=2**-5)


def test_voxel_slice_and_element_grids():
    mesh = fe.mesh_from_spec(fe.CylinderSpec(h=0.02))
    vox = VoxelGrid(mesh, (-0.1, 0.1, -0.1, 0.1, 0.0, 0.1), (8, 8, 4))
    _check_conservation(vox, mesh)
    assert vox.measures.sum() == pytest.approx(mesh.measure(), rel=1e-12)
    assert vox.to_image(np.arange(vox.n_params, dtype=float)).shape == (4, 8, 8)
    sl = SliceGrid(mesh, z=0.05, thickness=0.02, shape=(16, 16))
    _check_conservation(sl, mesh)
    assert sl.measures.sum() == pytest.approx(np.pi * 0.1**2 * 0.02, rel=0.02)
    eg = ElementGrid(mesh)
    assert eg.n_params == mesh.n_elements and eg.P.nnz == mesh.n_elements
    # Every interior face gives one neighbour pair.
    assert len(eg.neighbours) == (4 * mesh.n_elements - len(fe.mesh.boundary_facets(mesh.elements))) // 2


def test_coarse_mesh_grid(disk):
    coarse = fe.mesh_from_spec(fe.CircleSpec(h=0.25))
    grid = CoarseMeshGrid(disk, coarse)
    _check_conservation(grid, disk)
    np.testing.assert_allclose(np.asarray(grid.P.sum(axis=1)).ravel(), 1.0)
    assert grid.n_params == coarse.n_elements
    # Each coarse element receives about its own area.
    np.testing.assert_allclose(grid.measures, coarse.element_measures(), rtol=0.35)


def test_difference_operators(disk):
    grid = PixelGrid(disk, (-1, 1, -1, 1), (16, 16))
    d1, d2 = grid.difference_operator(1), grid.difference_operator(2)
    ones = np.ones(grid.n_params)
    assert np.abs(d1 @ ones).max() == 0 and np.abs(d2 @ ones).max() == 0
    np.testing.assert_allclose((d1.T @ d1).toarray(), d2.toarray())


def test_metrics_on_hand_made_images():
    true = np.zeros(100)
    true[45] = 1.0
    assert metrics.correlation_coefficient(true, true) == pytest.approx(1.0)
    assert metrics.correlation_coefficient(true, -true) == pytest.approx(-1.0)
    assert metrics.relative_error(true, 2 * true) == pytest.approx(1.0)
    assert metrics.mean_squared_error(true, np.zeros(100)) == pytest.approx(0.01)
    assert metrics.nce(true, true) == 0.0
    assert metrics.nce(true, 3 * true) == 0.0  # NCE normalises by the maximum
    blurred = true.copy()
    blurred[[44, 46]] = 0.5
    assert metrics.nce(true, blurred) == pytest.approx(np.sqrt(2 * 0.25 / 100))
    centres = np.column_stack([np.arange(100.0), np.zeros(100)])
    assert metrics.position_error(blurred, centres, [45.0, 0.0]) == pytest.approx(0.0)
    assert metrics.resolution(blurred, np.ones(100)) == pytest.approx(np.sqrt(3 / 100))
    with pytest.raises(fe.FemeitError, match="differ in size"):
        metrics.correlation_coefficient(true, true[:10])
    with pytest.raises(fe.FemeitError, match="NaN"):
        metrics.mean_squared_error(true, np.full(100, np.nan))
