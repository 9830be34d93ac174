"""simulate() corrects readings of unrefined fields by their adjoint-weighted residual instead of refining them.

The backends that refine (PARDISO) are replaced here by a deliberately inexact
solver (SuperLU of a perturbed matrix), so the correction's effect is
far above rounding and the test runs on every install.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import femeit as fe
import femeit.forward.model as model_module
from femeit.forward import ForwardModel, linsolve
from femeit.protocol import Protocol


def _inexact(a):
    """A backward-stable but inexact solve: SuperLU of ``a`` with its diagonal raised by 1e-10.

    Like a direct solver's rounding, but a million times larger: the readings
    err by about 4e-7 (the system's conditioning amplifies the perturbation).
    """
    a = sp.csc_matrix(a)
    return spla.splu((a + 1e-10 * sp.diags(a.diagonal())).tocsc()).solve


@pytest.fixture(scope="module")
def disk():
    return fe.mesh_from_spec(fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.2, h=0.12, h_electrode=0.05))


@pytest.fixture
def sigma(disk):
    return np.exp(0.3 * np.random.default_rng(3).standard_normal(disk.n_elements))


def _exact(disk, sigma, protocol):
    return ForwardModel(disk, protocol, solver="splu").solve(sigma).voltages


def _random_protocol() -> Protocol:
    """Currents and measurement patterns nobody tuned to: 9 random zero-sum drives, 12 random zero-sum readings."""
    rng = np.random.default_rng(11)
    currents = rng.standard_normal((9, 16)) * 1e-3
    currents -= currents.mean(axis=1, keepdims=True)
    meas = rng.integers(-3, 4, size=(12, 16)).astype(float)
    meas -= meas.mean(axis=1, keepdims=True)
    return Protocol.from_patterns(currents.T, meas.T)  # electrodes along the first axis


def _one_reading_per_drive() -> Protocol:
    """9 random drives, each read by its own random pattern: few rows of many (pattern, drive) pairs.

    The correction then takes its rows one by one, not from the (Q, P) product.
    """
    rng = np.random.default_rng(12)
    currents = rng.standard_normal((9, 16)) * 1e-3
    currents -= currents.mean(axis=1, keepdims=True)
    meas = rng.integers(-3, 4, size=(9, 16)).astype(float)
    return Protocol(16, currents, np.arange(9), meas)


PROTOCOLS = {
    "adjacent": lambda: Protocol.adjacent(16),  # every measured pair is driven: multiples of the drives' fields
    "opposite": lambda: Protocol.opposite(16),  # 8 drives span 8 of 15 dimensions: 7 extra fields
    "dipole_dipole": lambda: Protocol.dipole_dipole(16),
    "schlumberger": lambda: Protocol.schlumberger(16),
    "random": _random_protocol,  # 9 drives span 9 of 15 dimensions: 6 extra fields
    "one reading per drive": _one_reading_per_drive,
}


@pytest.mark.parametrize("name", PROTOCOLS)
def test_the_corrected_readings_are_as_exact_as_refined_ones(disk, sigma, monkeypatch, name):
    protocol = PROTOCOLS[name]()
    exact = _exact(disk, sigma, protocol)
    scale = np.abs(exact).max()
    monkeypatch.setattr(model_module, "factorize", lambda a, *args, **kw: _inexact(a))
    plain = ForwardModel(disk, protocol).simulate(sigma)
    monkeypatch.setattr(model_module, "factorize", lambda a, *args, **kw: linsolve.refined(a, _inexact(a), 1))
    model = ForwardModel(disk, protocol)
    rounded = linsolve.Residual.rounded
    calls = []
    monkeypatch.setattr(linsolve.Residual, "rounded", lambda self, b, x: calls.append(1) or rounded(self, b, x))
    corrected = model.simulate(sigma)
    assert calls == [1]  # corrected, not refined
    assert np.abs(plain - exact).max() > 1e-8 * scale  # the inexact solver is visibly off (measured 3.8e-7) ...
    assert np.abs(corrected - exact).max() < 1e-11 * scale  # ... the correction removes it (measured 1.3e-13) ...
    # Asked for afterwards, the fields are refined: the same numbers as a fresh model's.
    fresh = ForwardModel(disk, protocol)
    np.testing.assert_array_equal(model.jacobian(sigma), fresh.jacobian(sigma))
    np.testing.assert_array_equal(model.simulate(sigma), corrected)  # path-independent
    # ... as one refinement step does (both errors are second order in the solver's).
    np.testing.assert_allclose(model.solve(sigma).voltages, corrected, rtol=0, atol=1e-12 * scale)


def test_extra_adjoint_fields_are_solved_with_the_drives_in_one_call(disk, sigma, monkeypatch):
    """The opposite protocol: 8 drives and 7 extra patterns, one unrefined solve of 15 columns, nothing else."""
    solved = []

    def counting(a, *args, **kwargs):
        inner = _inexact(a)

        def counted(b):
            solved.append(np.asarray(b).reshape(len(b), -1).shape[1])
            return inner(b)

        return linsolve.refined(a, counted, 1)

    monkeypatch.setattr(model_module, "factorize", counting)
    model = ForwardModel(disk, Protocol.opposite(16))
    model.simulate(sigma)
    assert solved == [15]


def test_measurements_that_need_more_extra_fields_than_drives_fall_back_to_the_refined_fields(disk, sigma, monkeypatch):
    """Two drives, three readings outside their span: three extra solves would cost more than refining two."""
    protocol = Protocol.from_abmn([[0, 1, 2, 3], [0, 1, 3, 5], [4, 5, 7, 9]], 16)
    monkeypatch.setattr(model_module, "factorize", lambda a, *args, **kw: linsolve.refined(a, _inexact(a), 1))
    model = ForwardModel(disk, protocol)
    v = model.simulate(sigma)
    np.testing.assert_array_equal(v, model.solve(sigma).voltages)
    exact = _exact(disk, sigma, protocol)
    assert np.abs(v - exact).max() < 1e-11 * np.abs(exact).max()


def test_measurements_against_the_drive_reuse_its_field_with_a_negative_scale(disk, sigma, monkeypatch):
    """pyEIT's orientation (V_N - V_M for the drive A -> B): the adjoint fields are the injections' fields negated."""
    rows = np.array([[a, (a + 1) % 16, m, (m + 1) % 16] for a in range(16) for m in range(16)])
    rows = rows[[len({*r}) == 4 for r in rows]]
    reverse = rows[:, [0, 1, 3, 2]]
    solved = []

    def counting(a, *args, **kwargs):
        solve = linsolve.factorize(a, "splu")

        def counted(b):
            solved.append(np.asarray(b).reshape(len(b), -1).shape[1])
            return solve(b)

        return counted

    monkeypatch.setattr(model_module, "factorize", counting)
    forward = ForwardModel(disk, Protocol.from_abmn(rows, 16))
    backward = ForwardModel(disk, Protocol.from_abmn(reverse, 16))
    v_forward = forward.simulate(sigma)
    solved.clear()
    np.testing.assert_allclose(backward.simulate(sigma), -v_forward, rtol=1e-12, atol=0)
    jac = backward.jacobian(sigma)
    assert sum(solved) == 16  # the 16 drives only: no measurement pattern solved on its own
    scale = np.abs(jac).max()
    np.testing.assert_allclose(jac, -forward.jacobian(sigma), rtol=0, atol=1e-12 * scale)


def test_the_same_conductivity_again_reuses_the_readings_and_callers_cannot_alter_them(disk, sigma, monkeypatch):
    monkeypatch.setattr(model_module, "factorize", lambda a, *args, **kw: linsolve.refined(a, _inexact(a), 1))
    calls = []
    rounded = linsolve.Residual.rounded
    monkeypatch.setattr(linsolve.Residual, "rounded", lambda self, b, x: calls.append(1) or rounded(self, b, x))
    model = ForwardModel(disk, Protocol.adjacent(16))
    first = model.simulate(sigma)
    kept = first.copy()
    first[:] = 0.0  # the caller's array, not the model's
    again = model.simulate(sigma.copy())
    np.testing.assert_array_equal(again, kept)
    assert len(calls) == 1  # the residual's products once per conductivity
    model.simulate(sigma * 1.5)
    assert len(calls) == 2


def test_exact_readings_off_leaves_the_solve_unrefined_and_is_kept_by_replace(disk, sigma, monkeypatch):
    """``exact_readings=False``: the readings of the plain solve; the default corrects them."""
    import dataclasses

    from femeit.errors import FemeitError

    protocol = Protocol.opposite(16)
    exact = _exact(disk, sigma, protocol)
    scale = np.abs(exact).max()
    asked = []

    def inexact_backend(a, *args, refine=True, **kwargs):  # a refining backend, as PARDISO is
        asked.append(refine)
        return linsolve.refined(a, _inexact(a), 1) if refine else _inexact(a)

    monkeypatch.setattr(model_module, "factorize", inexact_backend)
    plain_model = ForwardModel(disk, protocol, exact_readings=False)
    plain = plain_model.simulate(sigma)
    corrected = ForwardModel(disk, protocol).simulate(sigma)
    assert asked == [False, True]
    assert np.abs(plain - exact).max() > 1e-8 * scale  # the inexact solve's own error (measured 3.8e-7)
    assert np.abs(corrected - exact).max() < 1e-11 * scale
    np.testing.assert_array_equal(plain, plain_model.solve(sigma).voltages)  # fields as plain as the readings
    assert "exact_readings=False" in repr(plain_model) and "exact_readings" not in repr(ForwardModel(disk, protocol))
    assert dataclasses.replace(plain_model, solver="splu").exact_readings is False
    assert plain_model.with_contact_impedance(0.02).exact_readings is False
    with pytest.raises(FemeitError, match="exact_readings must be True or False"):
        ForwardModel(disk, protocol, exact_readings="no")


@pytest.mark.skipif("pardiso" not in linsolve.available_backends(), reason="pypardiso is not installed")
def test_pardiso_without_refinement_is_mkls_solve_alone(disk, sigma):
    a = ForwardModel(disk, Protocol.adjacent(16)).system_matrix(sigma)
    b = np.random.default_rng(4).standard_normal((a.shape[0], 3))
    plain = linsolve.factorize(a, "pardiso", refine=False)
    refined = linsolve.factorize(a, "pardiso")
    assert not isinstance(plain, linsolve.RefinedSolve) and isinstance(refined, linsolve.RefinedSolve)
    np.testing.assert_array_equal(plain(b), refined.unrefined(b))
    from femeit.errors import FemeitError

    for bad in ("False", "no", None, 0):  # a truthy string would otherwise refine silently
        with pytest.raises(FemeitError, match="refine must be True or False"):
            linsolve.factorize(a, "pardiso", refine=bad)
