"""The solver contract: every registry solver images the right sign, in the stated units, well enough.

Mutations these tests were checked against (each makes at least one fail):
the sign of TSVD or backprojection flipped, Occam with first differences,
Landweber's default cut from 500 to 5 iterations, lambda = strength * s_max
instead of s_max^2 in ``difference.reconstruct``.
"""

import subprocess
import sys

import numpy as np
import pytest

import femeit as fe
from femeit import metrics
from femeit.errors import FemeitError
from femeit.inverse.base import CLASSICAL, LEARNED, REGISTRY, Reconstruction, build
from femeit.inverse.landweber import landweber
from femeit.inverse.leastsquares import prepare
from femeit.inverse.parameter import BOUNDS, choose_parameter
from femeit.noise_model import NoiseModel
from femeit.phantom import Box, Disk, Phantom

SOLVERS = [s for s in CLASSICAL if s != "marquardt"]


@pytest.fixture(scope="module")
def disk():
    """16-electrode disk, data from a finer mesh, a 24 x 24 pixel grid, and a noise-adding helper."""
    from femeit.forward import ForwardModel
    from femeit.grids import PixelGrid
    from femeit.protocol import Protocol

    def spec(h, he):
        return fe.CircleSpec(radius=1.0, n_electrodes=16, electrode_width=0.1, h=h, h_electrode=he)

    mesh, fine = fe.mesh_from_spec(spec(0.1, 0.04)), fe.mesh_from_spec(spec(0.06, 0.02))
    protocol = Protocol.adjacent(16)
    model, fine_model = ForwardModel(mesh, protocol, 0.01), ForwardModel(fine, protocol, 0.01)
    grid = PixelGrid(mesh, shape=(24, 24), min_fraction=0.5)
    jac = model.jacobian(1.0, basis=grid.P)  # d V / d sigma (S/m) at sigma0 = 1 S/m
    v0 = fine_model.simulate(1.0)

    def frame(phantom, percent=0.3, seed=0):
        noise = NoiseModel(absolute=0.1 * percent / 100 * np.abs(v0).mean(), relative=percent / 100)
        rng = np.random.default_rng(seed)
        v = fine_model.simulate(phantom.on_mesh(fine)) + noise.std(v0) * rng.standard_normal(len(v0))
        return v - v0, noise, phantom.on_grid(grid, mesh) - 1.0

    return {"jac": jac, "grid": grid, "v0": v0, "frame": frame, "protocol": protocol}


def _one_disk(value):
    return Phantom(1.0, ((Disk((0.35, 0.2), 0.3), value),))


# ---------------------------------------------------------------- sign, units, correlation per solver


@pytest.mark.parametrize("name", SOLVERS)
@pytest.mark.parametrize("value", [2.0, 0.5])
def test_every_solver_images_the_sign_and_size_of_a_known_change(disk, name, value):
    dv, noise, truth = disk["frame"](_one_disk(value))
    rec = build(name, disk["jac"], grid=disk["grid"], noise=noise, reference=disk["v0"])(dv)
    assert isinstance(rec, Reconstruction) and rec.solver == name and rec.x.shape == truth.shape
    inside = truth != 0
    change = value - 1.0  # S/m: +1 (conductive) or -0.5 (resistive)
    mean_inside = rec.x[inside].mean()
    # Sign: the object's pixels change the way the conductivity did.
    assert np.sign(mean_inside) == np.sign(change), (name, mean_inside)
    # Units: S/m of a sigma0 = 1 S/m Jacobian (backprojection: the relative change, the same here).
    # Linear images underestimate and blur: between 5 % and 300 % of the true change inside the object.
    assert 0.05 < mean_inside / change < 3.0, (name, mean_inside / change)
    assert metrics.correlation_coefficient(truth, rec.x) > (0.3 if name == "backprojection" else 0.6)


# Floors: the seeded case's measured CC (2026-12) minus about 0.1.
CC_FLOOR = {
    "tikhonov": 0.6,
    "occam": 0.6,
    "tsvd": 0.55,
    "landweber": 0.6,
    "backprojection": 0.2,
    "smdr": 0.5,
    "gpsr": 0.6,
    "tgpsr": 0.6,
    "kgpsr": 0.6,
    "twist": 0.6,
}


@pytest.fixture(scope="module")
def random_case(disk):
    rng = np.random.default_rng(17)
    shapes = (
        (Disk((-0.4, 0.35), 0.25), float(rng.uniform(2, 4))),
        (Box((0.15, -0.6), (0.55, -0.2)), float(1 / rng.uniform(2, 4))),
    )
    return disk["frame"](Phantom(1.0, shapes), percent=1.0, seed=int(rng.integers(1000)))


@pytest.mark.parametrize("name", SOLVERS)
def test_every_solver_correlates_with_a_seeded_two_sign_case(disk, random_case, name):
    dv, noise, truth = random_case
    rec = build(name, disk["jac"], grid=disk["grid"], noise=noise, reference=disk["v0"])(dv)
    cc = metrics.correlation_coefficient(truth, rec.x)
    assert cc > CC_FLOOR[name], (name, cc)


# ---------------------------------------------------------------- operators exactly as stated


def test_tikhonov_and_occam_are_the_stated_operators(disk):
    dv, noise, _ = disk["frame"](_one_disk(2.0))
    jac, grid = disk["jac"], disk["grid"]
    w = noise.whitening(disk["v0"])
    J, y = w.jacobian(jac), w.data(dv)
    s_max = np.linalg.norm(J, 2)
    rec = build("tikhonov", jac, noise=noise, reference=disk["v0"], lam_rel=1e-3, prior="identity")(dv)
    expected = np.linalg.solve(J.T @ J + 1e-3 * s_max**2 * np.eye(J.shape[1]), J.T @ y)
    np.testing.assert_allclose(rec.x, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())
    # The default NOSER prior: lam diag(J'J), lam_rel a fraction of s_max^2 of J / ||J_j||.
    gram = J.T @ J
    d2 = np.diag(gram)
    s_scaled = np.linalg.norm(J / np.sqrt(d2), 2)
    noser = build("tikhonov", jac, noise=noise, reference=disk["v0"], lam_rel=1e-3)(dv)
    expected = np.linalg.solve(gram + 1e-3 * s_scaled**2 * np.diag(d2), J.T @ y)
    np.testing.assert_allclose(noser.x, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())
    assert "NOSER" in " ".join(noser.transforms) and "NOSER" not in " ".join(rec.transforms)
    occ = build("occam", jac, grid=grid, noise=noise, reference=disk["v0"], lam=1e-2 * s_max**2)(dv)
    L = grid.difference_operator(2).toarray()
    expected = np.linalg.solve(J.T @ J + 1e-2 * s_max**2 * L.T @ L, J.T @ y)
    np.testing.assert_allclose(occ.x, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_difference_reconstruct_strength_is_a_fraction_of_s_max_squared(disk):
    from femeit.measured.difference import reconstruct

    dv, _, _ = disk["frame"](_one_disk(2.0))
    jac = disk["jac"]
    s_max = np.linalg.norm(jac, 2)
    x = reconstruct("tikhonov", jac, dv, disk["v0"], disk["grid"], 1e-2)
    expected = np.linalg.solve(jac.T @ jac + 1e-2 * s_max**2 * np.eye(jac.shape[1]), jac.T @ dv)
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())


def test_landweber_is_the_iteration_and_runs_500_steps_by_default(disk):
    dv, _, truth = disk["frame"](_one_disk(2.0))
    jac = disk["jac"]
    rec = build("landweber", jac, prior="identity")(dv)
    assert rec.params["iterations"] == 500 and rec.params["stop"] == "fixed" and len(rec.history) == 500
    np.testing.assert_allclose(rec.x, landweber(jac, dv, 500).x, rtol=1e-6, atol=1e-9 * np.abs(rec.x).max())
    few = build("landweber", jac, iterations=5, prior="identity")(dv)
    # 500 iterations resolve the disk much better than 5 (early stopping is the regulariser).
    assert metrics.correlation_coefficient(truth, rec.x) > metrics.correlation_coefficient(truth, few.x) + 0.05


def test_landweber_stops_at_the_discrepancy_with_a_noise_model(disk):
    dv, noise, _ = disk["frame"](_one_disk(2.0), percent=1.0)
    rec = build("landweber", disk["jac"], noise=noise, reference=disk["v0"], iterations=20000)(dv)
    n = rec.params["iterations"]
    target = 1.1 * np.sqrt(len(dv))
    assert rec.params["stop"] == "discrepancy" and n < 20000
    assert rec.history[-1] <= target and (n == 1 or rec.history[-2] > target)


def test_smdr_with_lambda_equals_a_fresh_build(disk):
    from femeit.inverse.smdr import SMDR

    dv, _, _ = disk["frame"](_one_disk(2.0))
    jac = disk["jac"]
    lam = 1e-2 * np.linalg.norm(jac, 2) ** 2
    a = SMDR(jac, 10 * lam).with_lambda(lam)(dv)
    b = SMDR(jac, lam)(dv)
    np.testing.assert_allclose(a.x, b.x, atol=1e-12)
    assert a.peak == pytest.approx(b.peak, rel=1e-9)


# ---------------------------------------------------------------- automatic parameters


def test_automatic_lambda_stays_in_bounds_and_reports_its_curve(disk):
    dv, noise, _ = disk["frame"](_one_disk(2.0))
    solver = build("tikhonov", disk["jac"], noise=noise, reference=disk["v0"])
    s2 = solver.system.s[0] ** 2
    # Pure noise: no signal, no corner - the choice must not collapse below the bound.
    rng = np.random.default_rng(5)
    for frame in (dv, noise.std(disk["v0"]) * rng.standard_normal(len(dv))):
        rec = solver(frame)
        assert BOUNDS[0] * s2 * (1 - 1e-9) <= rec.params["lam"] <= BOUNDS[1] * s2 * (1 + 1e-9)
        assert rec.curve["rule"] in ("discrepancy", "lcurve", "gcv", "fallback")
        assert len(rec.curve["lambdas"]) == len(rec.curve["residual"]) > 10


def test_discrepancy_rule_hits_the_noise_level():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((80, 80)))
    v, _ = np.linalg.qr(rng.standard_normal((120, 80)))
    s = 10.0 ** np.linspace(0, -3, 80)
    jac = (u * s) @ v.T
    x = v[:, :5] @ rng.standard_normal(5) * 30
    y = jac @ x + rng.standard_normal(80)  # unit noise: the whitened case
    system = prepare(jac)
    choice = choose_parameter(system, y, rule="discrepancy", noise_known=True, bounds=(1e-8, 1.0))
    residual = np.linalg.norm(jac @ system.tikhonov_path(y, [choice.lam])[0] - y)
    assert choice.rule == "discrepancy" and residual == pytest.approx(1.1 * np.sqrt(80), rel=0.02)
    with pytest.raises(FemeitError, match="needs a noise model"):
        choose_parameter(system, y, rule="discrepancy")


def test_lcurve_without_a_corner_falls_back_and_says_why():
    rng = np.random.default_rng(1)
    jac, _ = np.linalg.qr(rng.standard_normal((40, 40)))  # all singular values 1: no corner at all
    choice = choose_parameter(prepare(jac), rng.standard_normal(40), rule="lcurve")
    assert choice.rule in ("gcv", "fallback") and choice.notes and "lcurve" in choice.notes[0]


def test_the_fallback_stays_inside_the_bounds():
    rng = np.random.default_rng(1)
    jac, _ = np.linalg.qr(rng.standard_normal((40, 40)))  # no corner; GCV's minimum at the range's end
    choice = choose_parameter(prepare(jac), rng.standard_normal(40), rule="lcurve", bounds=(1e-2, 1.0))
    assert choice.rule == "fallback" and choice.lam == pytest.approx(1e-2)  # FALLBACK 1e-3 lies below


# ---------------------------------------------------------------- registry and errors


def test_registry_holds_every_solver_and_learned_ones_lazily():
    assert set(SOLVERS) | set(LEARNED) <= set(REGISTRY)
    assert all(isinstance(REGISTRY[name], str) for name in LEARNED)
    code = "import sys, femeit.inverse.base, femeit.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    from femeit.cli import LEARNED_SOLVERS

    assert set(LEARNED_SOLVERS) == set(LEARNED)


def test_unknown_solver_or_parameter_is_refused(disk):
    jac = disk["jac"]
    with pytest.raises(FemeitError, match="unknown solver 'magic'"):
        build("magic", jac)
    with pytest.raises(FemeitError, match="lam: no meaning for solver 'landweber'"):
        build("landweber", jac, lam=0.1)
    with pytest.raises(FemeitError, match="rank: no meaning for solver 'tikhonov'"):
        build("tikhonov", jac, rank=3)
    with pytest.raises(FemeitError, match="rule must be one of"):
        build("tikhonov", jac, rule="magic")(jac[:, 0])
    with pytest.raises(FemeitError, match="occam needs the reconstruction grid"):
        build("occam", jac)
    with pytest.raises(FemeitError, match="backprojection needs the reference"):
        build("backprojection", jac)


def test_cli_refuses_a_parameter_the_solver_does_not_take(tmp_path, capsys):
    from femeit.cli import main

    spec = tmp_path / "disk.toml"
    spec.write_text(
        "kind = 'circle'\nradius = 1.0\nn_electrodes = 16\nelectrode_width = 0.1\nh = 0.15\n"
        "[[inclusions]]\nx = 0.4\ny = 0.2\nradius = 0.2\n"
    )
    args = ["reconstruct", str(spec), "--region", "inclusion_1=2"]
    assert main([*args, "--solver", "landweber", "--lam", "0.1"]) == 2
    assert "--lam has no meaning for landweber" in capsys.readouterr().err
    assert main([*args, "--solver", "nonsense"]) == 2
    assert "unknown solver 'nonsense'" in capsys.readouterr().err
    assert main([*args, "--solver", "tsvd", "--rank", "12"]) == 0
    assert "rank = 12" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["tikhonov", "gpsr", "smdr", "backprojection"])
def test_bad_frames_are_refused_with_a_clear_message(disk, name):
    jac, v0 = disk["jac"], disk["v0"]
    dv, noise, _ = disk["frame"](_one_disk(2.0))
    solver = build(name, jac, grid=disk["grid"], noise=noise, reference=v0)
    bad = dv.copy()
    bad[7] = np.nan
    with pytest.raises(FemeitError, match=r"readings \[7\] are NaN"):
        solver(bad)
    with pytest.raises(FemeitError, match="must hold 208 readings"):
        solver(dv[:-1])
    # A masked reading may be NaN: it is not used.
    mask = np.ones(len(dv), dtype=bool)
    mask[7] = False
    masked = build(name, jac, grid=disk["grid"], noise=NoiseModel(1e-5, 0.003, mask=mask), reference=v0)
    rec = masked(bad)
    assert np.all(np.isfinite(rec.x)) and 7 not in rec.rows


def test_noise_model_errors_name_the_problem():
    with pytest.raises(FemeitError, match="non-negative"):
        NoiseModel(absolute=-1e-3)
    with pytest.raises(FemeitError, match="non-negative"):
        NoiseModel(relative=-0.01)
    with pytest.raises(FemeitError, match="removes every reading"):
        NoiseModel(1e-3, mask=np.zeros(10, dtype=bool))
    with pytest.raises(FemeitError, match="finite"):
        NoiseModel(absolute=np.nan)
    with pytest.raises(FemeitError, match="zero noise std"):
        NoiseModel().whitening(n_rows=5)
    with pytest.raises(FemeitError, match="needs the reference"):
        NoiseModel(relative=0.01).std(n_rows=4)
    with pytest.raises(FemeitError, match="symmetric"):
        NoiseModel(1.0, correlation=np.array([[1.0, 0.5], [0.2, 1.0]]))
    with pytest.raises(FemeitError, match="describes 3 readings"):
        NoiseModel(np.ones(3)).std(np.ones(4))


# ---------------------------------------------------------------- noise models


def test_whitening_makes_the_covariance_the_identity():
    rng = np.random.default_rng(2)
    n = 12
    a = rng.standard_normal((n, n))
    corr = np.corrcoef(a @ a.T + n * np.eye(n))
    ref = rng.uniform(0.5, 2.0, n)
    mask = np.ones(n, dtype=bool)
    mask[[2, 5]] = False
    noise = NoiseModel(absolute=0.01, relative=0.02, correlation=corr, mask=mask)
    w = noise.whitening(ref)
    cov = noise.covariance(ref)
    np.testing.assert_allclose(w.matrix @ cov @ w.matrix.T, np.eye(n - 2), atol=1e-10)
    assert w.rows.tolist() == [i for i in range(n) if mask[i]]
    std = np.sqrt(0.01**2 + (0.02 * ref) ** 2)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), std[mask])
    diag = NoiseModel(absolute=0.01, relative=0.02).whitening(ref)
    np.testing.assert_allclose(diag.data(np.ones(n)), 1 / std)


def test_noise_estimated_from_repeated_frames_and_from_a_reference():
    rng = np.random.default_rng(3)
    std = rng.uniform(1e-4, 1e-3, 30)
    frames = 1.0 + std * rng.standard_normal((4000, 30))
    est = NoiseModel.from_frames(frames)
    np.testing.assert_allclose(est.std(n_rows=30), std, rtol=0.05)
    corr = NoiseModel.from_frames(frames[:50], correlated=True)
    assert np.allclose(np.diag(corr.correlation), 1.0)
    np.linalg.cholesky(corr.correlation)  # positive definite after shrinkage
    ref = np.array([1.0, -2.0, 0.5, np.nan])
    model = NoiseModel.from_reference(ref, relative=0.01, floor=0.02)
    assert model.mask.tolist() == [True, True, True, False]
    expected = np.sqrt((0.01 * np.abs(ref[:3])) ** 2 + (0.02 * 3.5 / 3) ** 2)
    np.testing.assert_allclose(model.std(ref)[:3], expected)
    with pytest.raises(FemeitError, match="do not vary"):
        NoiseModel.from_frames(np.ones((5, 3)))


def test_reconstruction_is_frozen(disk):
    dv, _, _ = disk["frame"](_one_disk(2.0))
    rec = build("tikhonov", disk["jac"])(dv)
    with pytest.raises(AttributeError):
        rec.x = None
    with pytest.raises(TypeError):
        rec.params["lam"] = 1.0


# ---------------------------------------------------------------- the default prior and rule (issue 17 targets)


def test_noser_default_rule_lands_near_the_oracle_lambda_and_beats_the_printed_prior(disk, random_case):
    dv, noise, truth = random_case
    solver = build("tikhonov", disk["jac"], noise=noise, reference=disk["v0"])
    rec = solver(dv)
    # The CC-best lambda over the rule's own grid (an oracle that knows the truth).
    lambdas = rec.curve["lambdas"]
    images = solver.system.tikhonov_path(solver.whitening.data(dv), lambdas)
    cc = np.array([metrics.correlation_coefficient(truth, x) for x in images])
    best = lambdas[int(np.argmax(cc))]
    assert best / 30 <= rec.params["lam"] <= best * 30, (rec.params["lam"], best)
    assert metrics.correlation_coefficient(truth, rec.x) > cc.max() - 0.05
    printed = build("tikhonov", disk["jac"], noise=noise, reference=disk["v0"], prior="identity")(dv)
    assert metrics.correlation_coefficient(truth, rec.x) > metrics.correlation_coefficient(truth, printed.x)
