import numpy as np
import pytest

import femeit as fe
from femeit.inverse import choose_lambda, prepare

pytest.importorskip("matplotlib")
viz = pytest.importorskip("femeit.viz")


@pytest.fixture(scope="module")
def disk():
    return fe.mesh_from_spec(fe.CircleSpec(radius=1.0, h=0.2, inclusions=(fe.CircleInclusion(0.3, 0.0, 0.2),)))


def _png_ok(path):
    from matplotlib.image import imread

    img = imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert img[..., :3].std() > 0.01  # not a blank picture


def test_2d_plots(disk, tmp_path):
    viz.plot_mesh(disk, path=tmp_path / "mesh.png")
    sigma = np.where(disk.element_region == 1, 3.0, 1.0)
    viz.plot_conductivity(disk, sigma, path=tmp_path / "sigma.png", title="sigma")
    viz.plot_image(np.arange(64.0).reshape(8, 8) - 30, symmetric=True, path=tmp_path / "image.png")
    rng = np.random.default_rng(0)
    system = prepare(rng.standard_normal((30, 20)) @ np.diag(np.logspace(0, -4, 20)))
    viz.plot_lcurve(choose_lambda(system, rng.standard_normal(30)), path=tmp_path / "lcurve.png")
    fig = viz.plot_convergence([0.1, 0.05, 0.025], [[1e-2, 2.5e-3, 6.25e-4]], labels=["P1"], path=tmp_path / "c.png")
    assert fig.rates[0] == pytest.approx(2.0)
    for name in ("mesh", "sigma", "image", "lcurve", "c"):
        _png_ok(tmp_path / f"{name}.png")


def test_bad_inputs(disk):
    with pytest.raises(fe.FemeitError, match="element values"):
        viz.plot_conductivity(disk, np.ones(3))
    with pytest.raises(fe.FemeitError, match="2D"):
        viz.plot_image(np.ones(5))
    with pytest.raises(fe.FemeitError, match="3D mesh"):
        viz.render3d(disk)


def test_render3d(tmp_path):
    pytest.importorskip("pyvista")
    spec = fe.CylinderSpec(radius=0.1, height=0.1, h=0.03, rings=(fe.ElectrodeRing(z=0.05, n_electrodes=8),))
    mesh = fe.mesh_from_spec(spec)
    try:
        image = viz.render3d(mesh, path=tmp_path / "cyl.png", window_size=(320, 240))
    except Exception as exc:  # no OpenGL context on this machine
        pytest.skip(f"off-screen rendering unavailable: {exc}")
    assert image.shape == (240, 320, 3) and image.std() > 1
    assert (tmp_path / "cyl.png").exists()
    # A box round half the tank: fewer cells drawn, still a picture; a box the wrong way round is refused.
    half = viz.render3d(mesh, bounds=(0.0, 0.1, -0.1, 0.1, 0.0, 0.1), window_size=(320, 240))
    assert half.shape == image.shape and not np.array_equal(half, image)
    with pytest.raises(fe.FemeitError, match="bounds"):
        viz.render3d(mesh, bounds=(0.1, 0.0, -0.1, 0.1, 0.0, 0.1))
