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


def test_image_grid_and_the_users_backend_is_left_alone(disk, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a backend femeit would have replaced with Agg
    try:
        viz.plot_mesh(disk, path=tmp_path / "mesh.png")
        grid = [[np.eye(8), -np.eye(8)], [np.ones((8, 8)), np.full((8, 8), np.nan)]]
        fig = viz.plot_image_grid(grid, titles=[["a", "b"], ["c", "d"]], symmetric=True, path=tmp_path / "grid.png")
        assert matplotlib.get_backend() == "svg"
        assert len(fig.axes) == 4
    finally:
        matplotlib.use(before)
    _png_ok(tmp_path / "grid.png")
    with pytest.raises(fe.FemeitError, match="2D images"):
        viz.plot_image_grid([[np.ones(3)]])


def test_cli_and_viz_never_switch_backends_or_use_pyplot():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "femeit"
    for path in [root / "cli.py", root / "validate.py", *sorted((root / "viz").glob("*.py"))]:
        text = path.read_text()
        assert "matplotlib.use(" not in text and "matplotlib.pyplot" not in text, path


def test_bad_inputs(disk):
    with pytest.raises(fe.FemeitError, match="element values"):
        viz.plot_conductivity(disk, np.ones(3))
    with pytest.raises(fe.FemeitError, match="2D"):
        viz.plot_image(np.ones(5))
    with pytest.raises(fe.FemeitError, match="3D mesh"):
        viz.render3d(disk)


def _offscreen_rendering_error() -> str | None:
    """Why pyvista cannot render off-screen here (plain pyvista, no femeit code), or None when it can."""
    import os

    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    try:
        plotter = pv.Plotter(off_screen=True, window_size=(64, 48))
        plotter.add_mesh(pv.Sphere())
        plotter.screenshot()
        plotter.close()
    except Exception as exc:  # no OpenGL context on this machine
        return f"{type(exc).__name__}: {exc}"
    return None


def test_render3d(tmp_path):
    pytest.importorskip("pyvista")
    reason = _offscreen_rendering_error()
    if reason is not None:
        pytest.skip(f"off-screen rendering unavailable: {reason}")
    spec = fe.CylinderSpec(radius=0.1, height=0.1, h=0.03, rings=(fe.ElectrodeRing(z=0.05, n_electrodes=8),))
    mesh = fe.mesh_from_spec(spec)
    # Rendering works here, so any exception of render3d is a failure, not a skip.
    image = viz.render3d(mesh, path=tmp_path / "cyl.png", window_size=(320, 240))
    assert image.shape == (240, 320, 3) and image.std() > 1
    assert (tmp_path / "cyl.png").exists()
    # A box round half the tank: fewer cells drawn, still a picture; a box the wrong way round is refused.
    half = viz.render3d(mesh, bounds=(0.0, 0.1, -0.1, 0.1, 0.0, 0.1), window_size=(320, 240))
    assert half.shape == image.shape and not np.array_equal(half, image)
    with pytest.raises(fe.FemeitError, match="bounds"):
        viz.render3d(mesh, bounds=(0.1, 0.0, -0.1, 0.1, 0.0, 0.1))
