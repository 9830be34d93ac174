"""Forward model: analytic agreement, convergence rates, Jacobian checks, conservation, bad input."""

import numpy as np
import pytest

import femeit as fe
from femeit.analytic import (
    ball_point_potentials,
    disk_cem_potentials,
    halfspace_point_potentials,
    layered_ball_point_potentials,
    protocol_voltages,
)
from femeit.forward import ForwardModel
from femeit.forward.checks import tangent_linear, taylor_remainders
from femeit.forward.linsolve import available_backends
from femeit.noise import add_noise
from femeit.protocol import Protocol

ADJ16 = Protocol.adjacent(16)


def disk_spec(h, **kw):
    return fe.CircleSpec(
        radius=1.0, n_electrodes=16, electrode_width=0.2, first_angle_deg=0.0, h=h, h_electrode=h / 2, **kw
    )


@pytest.fixture(scope="module")
def disk_reference():
    spec = disk_spec(0.1)
    u = disk_cem_potentials(1.0, 1.0, spec.electrode_angles_deg(), 0.2, 0.01, ADJ16.injections)
    return protocol_voltages(ADJ16, u)


@pytest.fixture(scope="module")
def inhomogeneous():
    """A disk with an off-centre inclusion and a random smooth conductivity."""
    mesh = fe.mesh_from_spec(disk_spec(0.12, inclusions=(fe.CircleInclusion(0.3, 0.2, 0.25),)))
    rng = np.random.default_rng(1)
    sigma = np.exp(0.3 * rng.standard_normal(mesh.n_elements))
    return mesh, sigma


def test_disk_series_is_converged():
    spec = disk_spec(0.1)
    _, err = disk_cem_potentials(1.0, 1.0, spec.electrode_angles_deg(), 0.2, 0.01, ADJ16.injections, return_error=True)
    assert err < 1e-4


def test_disk_cem_converges_to_series_p1_and_p2(disk_reference):
    hs = np.array([0.1, 0.05, 0.025])
    errors = {1: [], 2: []}
    for h in hs:
        mesh = fe.mesh_from_spec(disk_spec(h))
        for order in (1, 2):
            v = ForwardModel(mesh, ADJ16, 0.01, order=order).simulate(1.0)
            errors[order].append(np.abs(v - disk_reference).max() / np.abs(disk_reference).max())
    rate = {k: np.polyfit(np.log(hs), np.log(e), 1)[0] for k, e in errors.items()}
    # The current density jumps at electrode edges, which limits both rates
    # below their smooth-solution values (P1: 2, P2: 3); observed about 1.5 and 1.8.
    assert rate[1] > 1.3, (rate, errors)
    assert rate[2] > 1.6, (rate, errors)
    assert all(e2 < e1 / 4 for e1, e2 in zip(errors[1], errors[2], strict=True))
    assert errors[2][-1] < 1e-3


def test_scaling_laws(disk_reference):
    mesh = fe.mesh_from_spec(disk_spec(0.1))
    model = ForwardModel(mesh, ADJ16, 0.01)
    v1 = model.simulate(1.0)
    # V scales as 1/sigma when the contact impedance scales with it, and linearly with the current.
    np.testing.assert_allclose(model.with_contact_impedance(0.005).simulate(2.0), v1 / 2, rtol=1e-10)
    # A copy with new contact impedances equals a model built with them.
    z = np.linspace(0.005, 0.03, 16)
    np.testing.assert_allclose(
        model.with_contact_impedance(z).simulate(1.0), ForwardModel(mesh, ADJ16, z).simulate(1.0), rtol=1e-12
    )
    doubled = ForwardModel(mesh, Protocol.adjacent(16, current=2.0), 0.01).simulate(1.0)
    np.testing.assert_allclose(doubled, 2 * v1, rtol=1e-10)


def test_region_conductivity(inhomogeneous):
    mesh, _ = inhomogeneous
    model = ForwardModel(mesh, ADJ16, 0.01)
    by_region = model.simulate({"domain": 1.0, "inclusion_1": 3.0})
    sigma = np.where(mesh.element_region == 1, 3.0, 1.0)
    np.testing.assert_allclose(by_region, model.simulate(sigma), rtol=1e-12)
    assert np.abs(by_region - model.simulate(1.0)).max() > 1e-3 * np.abs(by_region).max()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("electrode_model", ["cem", "shunt", "point"])
def test_reciprocity_and_kirchhoff(inhomogeneous, order, electrode_model):
    mesh, sigma = inhomogeneous
    model = ForwardModel(mesh, ADJ16, np.linspace(0.005, 0.02, 16), order=order, electrode_model=electrode_model)
    sol = model.solve(sigma)
    v = sol.voltages
    pairs = ADJ16.reciprocal_pairs()
    np.testing.assert_allclose(v[pairs[:, 0]], v[pairs[:, 1]], rtol=1e-10, atol=1e-12 * np.abs(v).max())
    if electrode_model == "cem":
        # Current through each electrode, (|e| U - int u) / z, equals the injected pattern.
        np.testing.assert_allclose(model.electrode_currents(sol), ADJ16.injections, atol=1e-10)


@pytest.mark.parametrize("order", [1, 2])
def test_jacobian_taylor_and_adjoint(inhomogeneous, order):
    mesh, sigma = inhomogeneous
    model = ForwardModel(mesh, ADJ16, 0.01, order=order)
    jac = model.jacobian(sigma)
    assert jac.shape == (208, mesh.n_elements)
    direction = np.random.default_rng(2).standard_normal(mesh.n_elements) * sigma
    # Taylor: the first-order remainder falls at second order.
    remainders, _ = taylor_remainders(model, sigma, direction, steps=(1e-2, 5e-3, 2.5e-3))
    ratios = remainders[:-1] / remainders[1:]
    assert np.all(np.abs(ratios - 4.0) < 0.4), ratios
    # Dot test: the adjoint Jacobian equals the tangent-linear (forward sensitivity) derivative.
    tangent = tangent_linear(model, sigma, direction)
    np.testing.assert_allclose(jac @ direction, tangent, rtol=1e-9, atol=1e-10 * np.abs(tangent).max())


def test_jacobian_reciprocity_log_and_basis(inhomogeneous):
    mesh, sigma = inhomogeneous
    model = ForwardModel(mesh, ADJ16, 0.01)
    jac = model.jacobian(sigma)
    pairs = ADJ16.reciprocal_pairs()
    np.testing.assert_allclose(jac[pairs[:, 0]], jac[pairs[:, 1]], rtol=1e-8, atol=1e-10 * np.abs(jac).max())
    np.testing.assert_allclose(model.jacobian(sigma, log_conductivity=True), jac * sigma, rtol=1e-12)
    basis = np.zeros((mesh.n_elements, 2))
    basis[:, 0] = 1.0
    basis[mesh.region("inclusion_1"), 1] = 1.0
    projected = model.jacobian(sigma, basis=basis, chunk_bytes=50_000)  # many chunks
    np.testing.assert_allclose(projected, jac @ basis, rtol=1e-10, atol=1e-12 * np.abs(jac).max())
    # The sensitivity to a uniform scaling obeys V(c sigma) = V / c: J @ sigma = -V (with z -> z / c).
    shunt = ForwardModel(mesh, ADJ16, electrode_model="shunt")
    np.testing.assert_allclose(shunt.jacobian(sigma) @ sigma, -shunt.simulate(sigma), rtol=1e-9)


def test_shunt_is_the_cem_limit():
    mesh = fe.mesh_from_spec(disk_spec(0.1))
    shunt = ForwardModel(mesh, ADJ16, electrode_model="shunt").simulate(1.0)
    cem = ForwardModel(mesh, ADJ16, 1e-7).simulate(1.0)
    np.testing.assert_allclose(cem, shunt, rtol=1e-4, atol=1e-5 * np.abs(shunt).max())


def test_point_electrodes_on_a_half_plane():
    spec = fe.HalfspaceLineSpec(
        dim=2, n_electrodes=16, spacing=1.0, padding=40.0, h_electrode=0.02, h_survey=0.25, h_far=60.0
    )
    mesh = fe.mesh_from_spec(spec)
    for protocol in (Protocol.dipole_dipole(), Protocol.schlumberger()):
        model = ForwardModel(mesh, protocol, electrode_model="point", order=2)
        positions = np.c_[spec.electrode_x(), np.zeros(16)]
        reference = protocol_voltages(protocol, halfspace_point_potentials(positions, 1.0, protocol.injections))
        err = np.abs(model.simulate(1.0) - reference) / np.abs(reference)
        assert err.max() < 0.01, err.max()


def test_ball_analytic_references_agree_with_each_other():
    rng = np.random.default_rng(3)
    pts = rng.standard_normal((6, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    inj = np.zeros((1, 6))
    inj[0, 0], inj[0, 1] = 1.0, -1.0
    homogeneous = ball_point_potentials(pts, 1.0, 2.0, inj)
    # An inner sphere of the same conductivity changes nothing.
    same = layered_ball_point_potentials(pts, 1.0, 2.0, 0.5, 2.0, inj)
    np.testing.assert_allclose(same[0, 2:], homogeneous[0, 2:], rtol=1e-12)
    # A conductive core lowers the transfer impedance.
    core = layered_ball_point_potentials(pts, 1.0, 2.0, 0.5, 20.0, inj)
    d_h = homogeneous[0, 2:] - homogeneous[0, 2:].mean()
    d_c = core[0, 2:] - core[0, 2:].mean()
    assert np.abs(d_c).max() < np.abs(d_h).max()


def test_backends_agree(inhomogeneous):
    mesh, sigma = inhomogeneous
    reference = ForwardModel(mesh, ADJ16, 0.01, solver="splu").simulate(sigma)
    for backend in available_backends():
        result = ForwardModel(mesh, ADJ16, 0.01, solver=backend).simulate(sigma)
        # Direct solvers agree to rounding; CG stops at a 1e-10 relative residual.
        np.testing.assert_allclose(result, reference, rtol=1e-6 if backend == "amg" else 1e-10)
    assert "amg" in available_backends()  # pyamg is a dependency


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda m: ForwardModel(m, ADJ16, 0.0), "contact_impedance must be positive"),
        (lambda m: ForwardModel(m, ADJ16, np.ones(3)), "array of 16 values"),
        (lambda m: ForwardModel(m, Protocol.adjacent(8), 0.01), "8 electrodes but the mesh has 16"),
        (lambda m: ForwardModel(m, ADJ16, 0.01, order=3), "order must be 1 or 2"),
        (lambda m: ForwardModel(m, ADJ16, 0.01, electrode_model="gap"), "electrode_model"),
        (lambda m: ForwardModel(m, ADJ16, 0.01).simulate(-1.0), "must be positive"),
        (lambda m: ForwardModel(m, ADJ16, 0.01).simulate(np.full(m.n_elements, np.nan)), "NaN"),
        (lambda m: ForwardModel(m, ADJ16, 0.01).simulate(np.ones(5)), "one per element"),
        (lambda m: ForwardModel(m, ADJ16, 0.01).simulate({"domain": 1.0, "lake": 2.0}), "unknown"),
        (lambda m: ForwardModel(m, ADJ16, 0.01).jacobian(1.0, basis=np.ones((3, 2))), "rows"),
        (lambda m: ForwardModel(m, ADJ16, 0.01, solver="magic"), "unknown linear solver"),
    ],
)
def test_bad_input_is_named(call, words):
    mesh = fe.mesh_from_spec(disk_spec(0.2))
    with pytest.raises(fe.FemeitError, match=words):
        call(mesh)


def test_noise_levels_and_seeds():
    v = np.random.default_rng(0).standard_normal((50, 208))
    a = add_noise(v, snr_db=30, seed=7)
    np.testing.assert_array_equal(a, add_noise(v, snr_db=30, seed=7))
    snr = 20 * np.log10(np.sqrt((v**2).mean()) / np.sqrt(((a - v) ** 2).mean()))
    assert abs(snr - 30) < 0.2
    b = add_noise(v, percent=3, seed=1)
    ratio = np.std(b - v, axis=1) / np.abs(v).max(axis=1)
    assert abs(ratio.mean() - 0.03) < 0.002
    c = add_noise(v, percent=3, relative_to="reading", seed=1)
    np.testing.assert_allclose(c - v, (b - v) / np.abs(v).max(axis=1, keepdims=True) * np.abs(v))
    d = add_noise(v, percent=3, relative_to="rms", seed=1)
    ratio = np.std(d - v, axis=1) / np.sqrt((v**2).mean(axis=1))
    assert abs(ratio.mean() - 0.03) < 0.002
    with pytest.raises(fe.FemeitError, match="relative_to"):
        add_noise(v, percent=3, relative_to="mean", seed=1)
    with pytest.raises(fe.FemeitError, match="exactly one"):
        add_noise(v, seed=1)


def test_ball_point_electrodes_p2_against_closed_form():
    protocol = Protocol.adjacent(16)
    spec = fe.BallSpec(radius=1.0, h=0.25, h_electrode=0.05, inner_radius=0.5)
    mesh = fe.mesh_from_spec(spec)
    pos = np.array(spec.electrode_centres())
    model = ForwardModel(mesh, protocol, electrode_model="point", order=2)
    v = model.simulate({"domain": 1.0, "inclusion_inner": 10.0})
    ref = protocol_voltages(protocol, layered_ball_point_potentials(pos, 1.0, 1.0, 0.5, 10.0, protocol.injections))
    assert np.abs(v - ref).max() / np.abs(ref).max() < 5e-3
    v = model.simulate(2.0)
    ref = protocol_voltages(protocol, ball_point_potentials(pos, 1.0, 2.0, protocol.injections))
    assert np.abs(v - ref).max() / np.abs(ref).max() < 5e-3


def test_sphere_anomaly_reference_properties():
    from scipy.special import eval_legendre

    from femeit.analytic import halfspace_sphere_anomaly

    pos = np.c_[np.linspace(-7.5, 7.5, 16), np.zeros(16), np.zeros(16)]
    eye = np.eye(16)
    centre, a = np.array([0.3, 0.1, -2.0]), 0.5
    green = halfspace_sphere_anomaly(pos, centre, a, 1.0, 50.0, eye)
    np.testing.assert_allclose(green, green.T, rtol=1e-10, atol=1e-14)  # reciprocity
    assert np.allclose(halfspace_sphere_anomaly(pos, centre, a, 1.0, 1.0, eye), 0.0)
    # Without the sphere-image interaction the multipole solution is the classical
    # Legendre series for a 2I source, doubled for the image sphere.
    rel = pos - centre
    d = np.linalg.norm(rel, axis=1)
    cos_gamma = np.clip((rel / d[:, None]) @ (rel / d[:, None]).T, -1, 1)
    series = sum(
        n
        * (1.0 - 50.0)
        / ((n + 1) + 50.0 * n)
        * a ** (2 * n + 1)
        / np.outer(d, d) ** (n + 1)
        * eval_legendre(n, cos_gamma)
        for n in range(1, 60)
    )
    first_order = halfspace_sphere_anomaly(pos, centre, a, 1.0, 50.0, eye, interaction=False)
    np.testing.assert_allclose(first_order, 4 / (4 * np.pi) * series, rtol=1e-10, atol=1e-15)
    # The interaction is a correction of order (a / 2h)^3.
    effect = np.abs(green - first_order).max() / np.abs(green).max()
    assert 0.1 * (a / 4.0) ** 3 < effect < 3 * (a / 4.0) ** 3
    with pytest.raises(fe.FemeitError, match="below the surface"):
        halfspace_sphere_anomaly(pos, (0, 0, -0.2), 0.5, 1.0, 2.0, eye)


def test_halfspace_lead_field_sensitivity():
    from femeit.analytic import halfspace_sensitivity

    pos = np.c_[np.linspace(-1.5, 1.5, 4), np.zeros(4), np.zeros(4)]
    protocol = Protocol.from_abmn([[0, 3, 1, 2], [0, 1, 2, 3]], 4)
    centre, half = np.array([0.3, 0.2, -3.0]), 0.01
    s = halfspace_sensitivity(pos, protocol, [centre - half], [centre + half])[:, 0]
    # A small, far box: the integral is the volume times the integrand at its centre.
    d = centre - pos
    grad = -d / (2 * np.pi * np.linalg.norm(d, axis=1)[:, None] ** 3)
    g_inj = protocol.injections @ grad
    g_meas = protocol.measurements @ grad
    midpoint = -np.einsum("md,md->m", g_inj[protocol.row_injection], g_meas) * (2 * half) ** 3
    np.testing.assert_allclose(s, midpoint, rtol=1e-3)
    # Reciprocity: swapping current and measurement pairs gives the same sensitivity.
    swapped = Protocol.from_abmn([[1, 2, 0, 3], [2, 3, 0, 1]], 4)
    np.testing.assert_allclose(
        halfspace_sensitivity(pos, swapped, [centre - half], [centre + half])[:, 0], s, rtol=1e-12
    )
