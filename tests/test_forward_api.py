"""The forward model's public face: Discretization, fields(), system_matrix(), jvec()/jtvec(), replace."""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import femeit as fe
from femeit.forward import Discretization, ForwardModel
from femeit.protocol import Protocol

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def disk():
    return fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.2, h=0.15, h_electrode=0.07))


@pytest.fixture(scope="module", params=[("cem", 1), ("cem", 2), ("point", 1), ("shunt", 1)])
def model_and_sigma(request, disk):
    electrode_model, order = request.param
    # Opposite drive, adjacent reading: measurement patterns are not current patterns,
    # so the adjoint fields are solved, not reused.
    model = ForwardModel(disk, Protocol.opposite(16), 0.02, order=order, electrode_model=electrode_model)
    sigma = 1.0 + 0.5 * np.random.default_rng(3).random(disk.n_elements)
    return model, sigma


def test_jvec_and_jtvec_match_the_dense_jacobian(model_and_sigma):
    model, sigma = model_and_sigma
    rng = np.random.default_rng(4)
    v = rng.standard_normal(model.mesh.n_elements)
    y = rng.standard_normal(model.protocol.n_rows)
    jac = model.jacobian(sigma)
    scale = np.abs(jac).max()
    np.testing.assert_allclose(model.jvec(sigma, v), jac @ v, rtol=0, atol=1e-12 * scale * np.abs(v).sum())
    np.testing.assert_allclose(model.jtvec(sigma, y), jac.T @ y, rtol=0, atol=1e-12 * scale * np.abs(y).sum())
    jlog = model.jacobian(sigma, log_conductivity=True)
    np.testing.assert_allclose(model.jvec(sigma, v, log_conductivity=True), jlog @ v, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.jtvec(sigma, y, log_conductivity=True), jlog.T @ y, rtol=1e-10, atol=1e-14)


def test_jvec_jtvec_dot_test(model_and_sigma):
    """<J v, y> = <v, J' y>: the adjoint pair is consistent without forming J."""
    model, sigma = model_and_sigma
    rng = np.random.default_rng(5)
    v = rng.standard_normal(model.mesh.n_elements)
    y = rng.standard_normal(model.protocol.n_rows)
    lhs, rhs = model.jvec(sigma, v) @ y, v @ model.jtvec(sigma, y)
    assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + abs(rhs))
    assert abs(lhs) > 0


def test_jvec_with_a_parameter_basis(disk):
    model = ForwardModel(disk, Protocol.adjacent(16), 0.02)
    basis = sp.random(disk.n_elements, 7, density=0.3, random_state=0, format="csr")
    v, y = np.arange(7.0), np.linspace(-1, 1, model.protocol.n_rows)
    jp = model.jacobian(1.3, basis=basis)
    np.testing.assert_allclose(model.jvec(1.3, v, basis=basis), jp @ v, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(model.jtvec(1.3, y, basis=basis), jp.T @ y, rtol=1e-10, atol=1e-14)
    with pytest.raises(fe.FemeitError, match="one value per element"):
        model.jvec(1.3, np.ones(3))
    with pytest.raises(fe.FemeitError, match="one value per protocol row"):
        model.jtvec(1.3, np.ones(3))


def test_fields_and_system_matrix_reproduce_the_readings(disk):
    model = ForwardModel(disk, Protocol.adjacent(16), 0.02)
    d = model.discretization
    a = model.system_matrix(2.0)
    assert a.shape == (d.n_unknowns - 1,) * 2
    assert abs(a - a.T).max() <= 1e-12 * abs(a).max()
    f = model.fields(2.0)
    free = d.plan.free
    # The fields solve the grounded system with the electrode currents as right-hand side.
    rhs = a @ f.injections[:, free].T
    currents = np.zeros_like(rhs)
    np.add.at(currents, d.plan.renumber[d.electrode_unknowns[1:]], model.protocol.injections[:, 1:].T)
    np.testing.assert_allclose(rhs, currents, atol=1e-10)
    u = f.injections[:, d.electrode_unknowns]
    v = np.einsum("ij,ij->i", model.protocol.measurements, u[model.protocol.row_injection])
    np.testing.assert_allclose(v, model.simulate(2.0), rtol=1e-13, atol=0)


def test_replace_changes_z_without_sharing_solver_state(disk):
    model = ForwardModel(disk, Protocol.adjacent(16), 0.02)
    v = model.simulate(1.0)
    other = dataclasses.replace(model, contact_impedance=0.05)
    assert other.discretization is model.discretization  # the frozen part is shared
    assert other._state is not model._state  # the mutable cache is not
    assert other.contact_impedance[0] == 0.05 and model.contact_impedance[0] == 0.02
    np.testing.assert_allclose(
        other.simulate(1.0), ForwardModel(disk, Protocol.adjacent(16), 0.05).simulate(1.0), rtol=1e-12
    )
    np.testing.assert_array_equal(model.simulate(1.0), v)  # the original is untouched
    assert model.with_contact_impedance(0.05).contact_impedance[0] == 0.05
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.protocol = Protocol.opposite(16)


def test_a_discretization_is_shared_by_models_with_other_protocols(disk):
    d = Discretization(disk, order=1, electrode_model="cem")
    a = ForwardModel(d, Protocol.adjacent(16), 0.02)
    b = ForwardModel(disk, Protocol.adjacent(16), 0.02)
    np.testing.assert_array_equal(a.simulate(1.5), b.simulate(1.5))
    assert ForwardModel(d, Protocol.opposite(16), 0.02).discretization is d
    with pytest.raises(fe.FemeitError, match="either a mesh or discretization"):
        ForwardModel(disk, Protocol.adjacent(16), discretization=d)
    with pytest.raises(fe.FemeitError, match="EITMesh"):
        Discretization("mesh.msh")


_PRIVATE = re.compile(r"\b(?:model|fm|forward_model|nominal|fine|coarse_model|m_cm|self\.model)\._[a-z]\w*")


def test_nothing_outside_forward_touches_private_model_state():
    """A grep: code outside femeit/forward/ reaches the forward model only through its public API."""
    offenders = []
    for folder in ("femeit", "benchmarks", "validation", "examples", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("femeit/forward/") or rel == "tests/test_forward_api.py":
                continue
            text = path.read_text()
            offenders += [f"{rel}: {m}" for m in _PRIVATE.findall(text)]
            offenders += [f"{rel}: {m}" for m in re.findall(r"\._(?:plan|solver_state|electrode_dofs|fields)\b", text)]
    assert not offenders, offenders


def test_the_private_state_grep_would_catch_an_offender():
    assert _PRIVATE.search("x = model._fields(sigma)")
    assert not _PRIVATE.search("x = model.fields(sigma)")


def test_a_new_conductivity_releases_the_previous_factor_before_factoring(disk, monkeypatch):
    import gc
    import weakref

    from femeit.forward import model as model_module

    model = ForwardModel(disk, Protocol.adjacent(16), 0.02)
    made = []
    factorize = model_module.factorize

    def recording(*args, **kwargs):
        # Live factors when a new one is made: none but this one may survive the switch.
        gc.collect()
        made.append(sum(ref() is not None for ref in made_refs))
        solve = factorize(*args, **kwargs)
        made_refs.append(weakref.ref(solve))
        return solve

    made_refs = []
    monkeypatch.setattr(model_module, "factorize", recording)
    model.simulate(1.0)
    v2 = model.simulate(2.0)
    assert made == [0, 0]  # the first factor was gone before the second was made
    np.testing.assert_array_equal(v2, ForwardModel(disk, Protocol.adjacent(16), 0.02).simulate(2.0))


def test_threads_sharing_a_model_each_get_their_own_readings_and_jacobians():
    """Dask's threaded workers share one model: each call must see its own conductivity's factor."""
    from concurrent.futures import ThreadPoolExecutor

    ball = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=0.35, h_electrode=0.2))
    rng = np.random.default_rng(11)
    sigmas = [np.exp(0.5 * rng.standard_normal(ball.n_elements)) for _ in range(24)]
    v = rng.standard_normal(ball.n_elements)
    alone = ForwardModel(ball, Protocol.adjacent(16), electrode_model="point")
    expected = [(alone.simulate(s), alone.jvec(s, v)) for s in sigmas]
    shared = ForwardModel(ball, Protocol.adjacent(16), electrode_model="point")
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda s: (shared.simulate(s), shared.jvec(s, v)), sigmas * 3))
    for (readings, products), (want, want_products) in zip(got, expected * 3, strict=True):
        np.testing.assert_allclose(readings, want, rtol=0, atol=1e-13 * np.abs(want).max())
        np.testing.assert_allclose(products, want_products, rtol=0, atol=1e-11 * np.abs(want_products).max())
