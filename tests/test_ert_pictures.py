"""ERT pictures: pseudo-section positions, coverage, and the figures (written, with bad input refused)."""

import numpy as np
import pytest

from femeit.errors import FemeitError
from femeit.ert import ERTModel, Forward25D, halfplane_mesh, wenner_alpha
from femeit.ert.pictures import (
    coverage,
    plot_misfit,
    plot_pseudosection,
    plot_section,
    pseudosection_positions,
)
from femeit.inverse.gauss_newton import invert_model

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def survey():
    n = 10
    e = np.column_stack([np.arange(n, dtype=float), 0.2 * np.arange(n) ** 0.5])
    prot = wenner_alpha(n)
    mesh = halfplane_mesh(e, near_size=0.3, growth=0.5, extent=3)
    return e, prot, mesh, ERTModel(Forward25D(mesh, order=1), prot)


def test_pseudosection_positions_of_wenner_and_pole_readings():
    x = np.column_stack([np.arange(8.0), np.zeros(8)])
    abmn = np.array([[0, 3, 1, 2], [1, 7, 3, 5], [2, -1, 3, 4]])
    xy = pseudosection_positions(x, abmn)
    assert np.allclose(xy, [[1.5, 0.6], [4.0, 1.2], [3.0, 0.4]])
    with pytest.raises(FemeitError, match="shape"):
        pseudosection_positions(x, abmn[:, :3])


def test_coverage_is_highest_near_the_electrodes(survey):
    e, _, mesh, model = survey
    jac = model.jacobian(0.01, log_conductivity=True)
    v = model.simulate(0.01)
    areas = mesh.areas()
    assert np.isclose(areas.sum(), np.ptp(mesh.mesh.p[0]) * (e[:, 1].mean() - mesh.mesh.p[1].min()), rtol=0.01)
    cov = coverage(jac / v[:, None], np.full(len(v), 0.02), areas)
    c = mesh.centroids()
    shallow = (np.abs(c[:, 0] - 4.5) < 3) & (c[:, 1] > np.interp(c[:, 0], e[:, 0], e[:, 1]) - 1)
    deep = c[:, 1] < -20
    assert cov[shallow].min() > cov[deep].max()
    with pytest.raises(FemeitError, match="shapes"):
        coverage(jac, np.ones(3), areas)


def test_figures_are_written(survey, tmp_path):
    e, prot, mesh, model = survey
    data = model.simulate(lambda c: np.where(c[:, 1] < -2, 0.05, 0.01))
    res = invert_model(model, data, 0.02 * np.abs(data), sigma0=0.01, log_data=True, max_iter=3)
    inj, meas = prot.injections[prot.row_injection], prot.measurements
    table = np.column_stack([inj.argmax(1), inj.argmin(1), meas.argmax(1), meas.argmin(1)])
    k = model.forward.geometric_factors(prot)
    figs = {
        "pseudo.png": plot_pseudosection(e, table, np.abs(k * data), title="rhoa"),
        "section.png": plot_section(mesh, 1 / res.conductivity, mask=mesh.centroids()[:, 1] > -5),
        "misfit.png": plot_misfit(res),
    }
    for name, fig in figs.items():
        fig.savefig(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 5000
    with pytest.raises(FemeitError, match="positive"):
        plot_pseudosection(e, table, -np.ones(prot.n_rows))
    with pytest.raises(FemeitError, match="one value per element"):
        plot_section(mesh, np.ones(3))
    with pytest.raises(FemeitError, match="no element"):
        plot_section(mesh, np.ones(mesh.n_elements), mask=np.zeros(mesh.n_elements, bool))
