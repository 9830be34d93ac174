import numpy as np
import pytest

import femeit as fe
from femeit.forward import ForwardModel
from femeit.grids import ElementGrid
from femeit.inverse.landweber import corrected_landweber, landweber, largest_singular_value
from femeit.phantom import Disk, Phantom
from femeit.protocol import Protocol


def test_landweber_converges_to_least_squares():
    rng = np.random.default_rng(0)
    jac = rng.standard_normal((30, 8)) @ np.diag(np.linspace(1.0, 0.3, 8))
    y = rng.standard_normal(30)
    exact = np.linalg.lstsq(jac, y, rcond=None)[0]
    result = landweber(jac, y, 3000)
    assert np.allclose(result.x, exact, rtol=1e-8, atol=1e-10)
    assert np.all(np.diff(result.residuals) <= 1e-12)  # monotone for step <= 1/||S||^2
    assert result.step == pytest.approx(1 / np.linalg.norm(jac, 2) ** 2)


def test_landweber_minimum_norm_on_underdetermined_system():
    rng = np.random.default_rng(1)
    jac = rng.standard_normal((6, 20))
    y = rng.standard_normal(6)
    result = landweber(jac, y, 5000)
    assert np.allclose(result.x, np.linalg.pinv(jac) @ y, atol=1e-8)


def test_projection_keeps_bounds():
    rng = np.random.default_rng(2)
    jac = rng.standard_normal((20, 15))
    y = jac @ rng.uniform(-3, 3, 15)
    lower, upper = np.full(15, -0.5), np.linspace(0.2, 1.0, 15)
    result = landweber(jac, y, 200, bounds=(lower, upper), x0=np.full(15, 5.0))
    assert np.all(result.x >= lower) and np.all(result.x <= upper)
    assert np.any(result.x == upper) or np.any(result.x == lower)  # the bounds were active


def test_largest_singular_value():
    rng = np.random.default_rng(3)
    for shape in [(5, 9), (9, 5)]:
        a = rng.standard_normal(shape)
        assert largest_singular_value(a) == pytest.approx(np.linalg.norm(a, 2), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"data": np.ones(3)}, "shape"),
        ({"data": np.r_[np.nan, np.ones(3)]}, "NaN"),
        ({"n_iter": -1}, "n_iter"),
        ({"step": -1.0}, "step"),
        ({"bounds": (1.0, 0.0)}, "lower <= upper"),
        ({"x0": np.ones(2)}, "x0"),
    ],
)
def test_landweber_bad_input(kwargs, message):
    args = {"jac": np.eye(4, 5), "data": np.ones(4), "n_iter": 10} | kwargs
    with pytest.raises(fe.FemeitError, match=message):
        landweber(**args)


@pytest.fixture(scope="module")
def tank():
    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=0.025, electrode_width=0.005, h=0.0025))
    protocol = Protocol.adjacent(16)
    return mesh, ForwardModel(mesh, protocol, contact_impedance=1e-5)


def test_correction_with_a_perfect_model_leaves_a_correct_image(tank):
    mesh, model = tank
    truth = Phantom(1.0, ((Disk((0.008, 0.004), 0.006), 0.1),)).on_mesh(mesh)
    data, reference = model.simulate(truth), model.simulate(1.0)
    result = corrected_landweber(model, data, reference, 1.0, x0=truth, bounds=(0.01, 1.0), corrections=2)
    assert result.corrections[0].delta < 1e-12
    assert np.allclose(result.x, truth, rtol=1e-10, atol=1e-12)


def test_correction_reduces_the_voltage_residual(tank):
    mesh, model = tank
    truth = Phantom(1.0, ((Disk((0.008, 0.004), 0.007), 0.01),)).on_mesh(mesh)
    data, reference = model.simulate(truth), model.simulate(1.0)
    plain = corrected_landweber(model, data, reference, 1.0, corrections=1, iterations=(600, 0), penalty=None)
    corrected = corrected_landweber(model, data, reference, 1.0, corrections=3, iterations=(500, 100), penalty=1.0)
    deltas = [c.delta for c in corrected.corrections] + [corrected.final_delta]
    assert deltas[-1] < deltas[0]
    assert corrected.final_delta < plain.final_delta
    assert all(0 < c.beta < 1 for c in corrected.corrections)
    assert all(np.all((c.x >= 1e-3) & (c.x <= 1.0)) for c in corrected.corrections)
    grid = ElementGrid(mesh)
    assert corrected.x.shape == (grid.n_params,)


def test_corrected_landweber_bad_input(tank):
    _, model = tank
    v = model.simulate(1.0)
    with pytest.raises(fe.FemeitError, match="reference_data"):
        corrected_landweber(model, v, v[:-1], 1.0)
    with pytest.raises(fe.FemeitError, match="sigma_reference"):
        corrected_landweber(model, v, v, -1.0)
    with pytest.raises(fe.FemeitError, match="positive"):
        corrected_landweber(model, v, v, 1.0, bounds=(0.0, 1.0))
    with pytest.raises(fe.FemeitError, match="penalty"):
        corrected_landweber(model, v, v, 1.0, penalty=-1)


def test_coefficient_reading_allows_over_relaxation_for_small_voltage_changes(tank):
    # beta = 1 / (B + delta): above 1 when delta < 1 - B (the paper's D2); the former
    # reading 1 / (1 + B delta) never exceeds 1.
    mesh, model = tank
    truth = Phantom(1.0, ((Disk((0.008, 0.004), 0.004), 0.01),)).on_mesh(mesh)
    data, reference = model.simulate(truth), model.simulate(1.0)
    result = corrected_landweber(model, data, reference, 1.0, corrections=2, iterations=(50, 20))
    first = result.corrections[0]
    assert first.delta < 0.5
    assert first.beta == pytest.approx(1.0 / (0.5 + first.delta)) and first.beta > 1
    former = corrected_landweber(
        model, data, reference, 1.0, corrections=2, iterations=(50, 20), penalty=0.5, beta_form="1+B*delta"
    )
    beta = former.corrections[0].beta
    assert beta == pytest.approx(1.0 / (1.0 + 0.5 * first.delta)) and beta < 1
    with pytest.raises(fe.FemeitError, match="beta_form"):
        corrected_landweber(model, data, reference, 1.0, beta_form="1/delta")
