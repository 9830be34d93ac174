"""KTC2023 real tank data: calibration, difference imaging with every solver, challenge scores.

Run:  python validation/ktc2023.py [--quick | --classical-only] [-o validation/out] [--root DIR]

Data: the packaged level-1 files (levels 2-7 rebuilt by masking, identical to
the published files) or ``--root`` pointing at the challenge's layout.

1. Calibration on the empty-tank reference (level 1, all 2356 rows): the
   nominal model (electrodes 5.625 degrees, femeit's default z = 0.01 ohm m,
   sigma by the one-number closed form) is "uncalibrated"; then sigma and a
   shared z by least squares; then the electrode width scanned (shared z
   refitted at each width); then z per electrode.  The reference's own
   non-reciprocity (``ktc2023.reciprocity_error``) is reported beside the
   residuals: every tank model is reciprocal, so it bounds their fit from
   below.  Then, as a diagnosis of what limits the fit, the instrument's
   per-channel common-mode error (``calibration.common_mode_design``, 31
   coefficients, ground at the current sink or at the mean potential), with
   a hold-out check (fitted on patterns 17-76, scored on 1-16).  That term is
   not reciprocal and is not used for imaging.
2. Difference imaging, 7 levels x 4 targets, with Tikhonov, Occam, TSVD,
   Landweber, backprojection and the L1 solvers GPSR-BB, TGPSR-BB, KGPSR-BB
   and TwIST on a 32 x 32 pixel grid (the mesh is the
   calibration mesh, not aligned with any target), data weighted by the noise
   model of ``femeit.measured.difference`` and the global drift projected out; images
   resampled to 256 x 256 and segmented by the half-maximum rule with a class
   presence test (``femeit.measured.segmentation``).
3. Scores (``femeit.ktc2023.ktc_score``) under three rules for the parameters
   (regularisation strength, threshold fraction, presence ratio):
   * ``auto``: no truth at all: L-curve corner (Landweber: 500 iterations;
     L1 solvers: the KGPSR-BB paper's Table 1 lambda), segmentation fraction
     0.5, presence 0.5;
   * ``cv``: leave one target out: the parameters that maximise the mean score
     of the other three targets (all levels) are used on the fourth;
   * ``cv per level``: the same, choosing on the other three targets of the same level;
   * ``oracle``: one parameter set for all 28 cases chosen with their truth
     (an upper bound of what one fixed setting achieves, not a fair score).

4. The generalising classical pipeline (``femeit.ktc2023.classical``) per level beside the
   organisers' baseline and the all-water score: on the public targets (its settings were
   chosen on simulated targets; the one choice compared on the public targets, the row
   weighting, is scored leave-one-target-out) and on simulated held-out targets (new
   shapes, seed 7, never used for a choice).  ``--classical-only`` prints just this table.

5. ``--learned``: the learned pipeline (``femeit.learn.ktc_pipeline``: a U-Net on the classical
   linearised reconstruction, trained only on simulated tank data) beside the classical one,
   the baseline and all-water, per level, on the public targets (no choice was made on them)
   and on the same simulated held-out data; exit status 0 when its public mean over levels is
   at least 0.80 and its simulated mean at least the classical one + 0.1 (the issue's acceptance).

Writes ``ktc2023.md`` (calibration and score tables), ``ktc2023_calibration.png``
and ``ktc2023_images.png``.  Exit status 0 when the best solver's ``cv`` score
reaches 0.75 at level 1 and 0.65 over all levels (the issue's acceptance), the
tank-plus-instrument calibration is under 5 % and its common-mode term lowers
the hold-out residual;
``--quick`` (level 1 only, Tikhonov and Occam, nominal-width calibration)
checks that the level-1 score beats the organisers' 0.70 and the calibration
is under 5 %.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from femeit import ktc2023 as ktc
from femeit.errors import FemeitError
from femeit.grids import PixelGrid
from femeit.inverse.base import build
from femeit.ktc2023 import ktc_score
from femeit.ktc2023.classical import TankImager
from femeit.measured.calibration import calibrate, common_mode_design, relative_residual
from femeit.measured.difference import DifferenceProblem, strength_parameters, to_challenge_image
from femeit.measured.segmentation import threshold_segmentation

# The organisers' baseline on the four public targets, level 1..7 (KTC2023 results page).
BASELINE_LEVELS = (0.696, 0.675, 0.675, 0.621, 0.573, 0.465, 0.393)
HELDOUT_SEED = 7
"""Seed of the simulated held-out targets (the settings were chosen on seed 2023's)."""

STRENGTHS = {
    "tikhonov": np.logspace(-7, -3, 9),
    # Occam's strength is a fraction of ||S||^2 / ||L||^2 (femeit.inverse.base.Occam); its
    # L-curve corners on the public targets lie at 7e-4..1.8 of that scale.
    "occam": np.logspace(-4, 2, 9),
    "tsvd": np.array([0.02, 0.04, 0.08, 0.12, 0.16, 0.24, 0.32, 0.48, 0.64]),
    "landweber": np.array([10, 100, 1000, 3000, 1e4, 3e4, 1e5, 3e5, 1e6]),
    "backprojection": np.array([np.nan]),
    # L1 solvers: lambda as a fraction of ||S'y||_inf (S column-normalised); KGPSR-BB's
    # lambda acts on its 55 Krylov coefficients and needs larger fractions.
    "gpsr": np.array([0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]),
    "tgpsr": np.array([0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]),
    "kgpsr": np.array([0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0]),
    "twist": np.array([0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5]),
}
SEGMENTATIONS = [(f, p) for f in (0.4, 0.5, 0.6) for p in (0.0, 0.5)]
DEFAULT_SEGMENTATION = (0.5, 0.5)
BASELINE = {"level 1": 0.70, "all": 0.585}


def ladder_row(label: str, width_factor: float, fit) -> tuple:
    """One row of the calibration table: (label, width factor, sigma, z (median if per electrode), residual)."""
    return label, width_factor, fit.sigma, float(np.median(fit.contact_impedance)), fit.residual


def calibrate_tank(reference, quick: bool, out: dict) -> tuple:
    """Calibration ladder; returns (model, sigma) of the final model and fills ``out``."""
    y = reference.voltages
    rows = []
    t = time.perf_counter()
    nominal = ktc.tank_model(reference.protocol, 1.0)
    v = nominal.simulate(1.0)
    sigma_nominal = float(v @ v / (v @ y))
    rows.append(
        (
            "uncalibrated (nominal width, z = 0.01 ohm m, sigma closed form)",
            1.0,
            sigma_nominal,
            0.01,
            relative_residual(nominal.simulate(sigma_nominal), y),
        )
    )
    shared = calibrate(nominal, y)
    rows.append(ladder_row("sigma + shared z, nominal width", 1.0, shared))
    widths = np.array([1.0]) if quick else np.array([0.9, 1.0, 1.1, 1.15, 1.2, 1.25, 1.3, 1.4])
    scan = []
    for wf in widths:
        m = nominal if wf == 1.0 else ktc.tank_model(reference.protocol, wf)
        c = shared if wf == 1.0 else calibrate(m, y)
        scan.append((wf, c, m))
    wf, best, model = min(scan, key=lambda s: s[1].residual)
    if not quick:
        rows.append(ladder_row(f"sigma + shared z, electrode width x {wf:g} (scanned)", wf, best))
        fine = calibrate(ktc.tank_model(reference.protocol, wf, h=0.004), y, start=best)
        rows.append(ladder_row(f"sigma + shared z, width x {wf:g}, finer mesh (h 4 mm instead of 6 mm)", wf, fine))
        per = calibrate(model, y, per_electrode=True, start=best)
        rows.append(ladder_row(f"sigma + z per electrode, width x {wf:g}", wf, per))
        out["per_electrode_z"] = per.contact_impedance
        final = model.with_contact_impedance(per.contact_impedance), per.sigma
        out["breakdown"] = residual_breakdown(reference, final[0].simulate(final[1]))
    else:
        final = model.with_contact_impedance(best.contact_impedance), best.sigma
    # The instrument, not the tank: per-channel common-mode error (ground at the current sink).
    # Not used for imaging (it cancels to first order in difference data); it shows what limits the fit above.
    cm = calibrate(model, y, start=best, common_mode="sink")
    rows.append(
        ladder_row(
            f"sigma + shared z + instrument common-mode error (31 channels, ground at the sink), width x {wf:g}", wf, cm
        )
    )
    out["common_mode"] = cm.extra["common_mode"]
    if not quick:
        cm_mean = calibrate(model, y, start=best, common_mode="mean")
        rows.append(
            ladder_row(
                f"the same with the ground at the mean electrode potential (floating source), width x {wf:g}",
                wf,
                cm_mean,
            )
        )
        cm_per = calibrate(model, y, per_electrode=True, start=cm, common_mode="sink")
        rows.append(
            ladder_row(
                f"sigma + z per electrode + instrument common-mode error (ground at the sink), width x {wf:g}",
                wf,
                cm_per,
            )
        )
        out["common_mode"] = cm_per.extra["common_mode"]
        out["holdout"] = holdout(model, y, best)
        cm = cm_per
    m_cm = model.with_contact_impedance(cm.contact_impedance)
    corrected = y - common_mode_design(m_cm, cm.sigma) @ cm.extra["common_mode"]
    out["reciprocity_corrected"] = ktc.reciprocity_error(ktc.Measurement(reference.protocol, corrected, reference.mask))
    out["rows"] = rows
    out["scan"] = [(s[0], s[1].residual, s[1].sigma, float(s[1].contact_impedance[0])) for s in scan]
    out["reciprocity"] = ktc.reciprocity_error(reference)
    out["seconds"] = time.perf_counter() - t
    out["fit"] = final[0].simulate(final[1])
    out["first"] = rows[0]
    out["nominal_fit"] = nominal.simulate(sigma_nominal)
    return final


def residual_breakdown(reference, fit: np.ndarray) -> dict:
    """Where the residual of a fit lies: readings on current-carrying electrodes or not, per pattern family.

    Values are ``||r_subset|| / ||y||`` (shares of the total relative residual, in quadrature)
    and, per family, ``||r_family|| / ||y_family||``.
    """
    y = reference.voltages
    prot = reference.protocol
    r = fit - y
    drive = prot.injections[prot.row_injection] != 0
    touch = np.any(drive & (prot.measurements != 0), axis=1)
    norm = np.linalg.norm(y)
    fams = {"1-16": slice(0, 16 * 31), "17-31": slice(16 * 31, 31 * 31)}
    fams.update({f"{a}-{a + 14}": slice((a - 1) * 31, (a + 14) * 31) for a in (32, 47, 62)})
    return {
        "touching": (int(touch.sum()), float(np.linalg.norm(r[touch]) / norm)),
        "away": (int((~touch).sum()), float(np.linalg.norm(r[~touch]) / norm)),
        "away_relative": float(np.linalg.norm(r[~touch]) / np.linalg.norm(y[~touch])),
        "families": {k: float(np.linalg.norm(r[sl]) / np.linalg.norm(y[sl])) for k, sl in fams.items()},
    }


def holdout(model, y: np.ndarray, start) -> tuple[float, float]:
    """Residual on patterns 1-16 of fits made on patterns 17-76 only: (reciprocal model, with common mode).

    The common-mode coefficients are a property of the electronics, so they must predict
    current patterns they were not fitted on; per-row gains or offsets could not.
    """
    train = np.arange(len(y)) >= 16 * ktc.N_MEASUREMENTS
    plain = calibrate(model, y, train, start=start)
    with_cm = calibrate(model, y, train, start=start, common_mode="sink")
    m = model.with_contact_impedance(with_cm.contact_impedance)
    v = m.simulate(with_cm.sigma) + common_mode_design(m, with_cm.sigma) @ with_cm.extra["common_mode"]
    v0 = model.with_contact_impedance(plain.contact_impedance).simulate(plain.sigma)
    return relative_residual(v0, y, ~train), relative_residual(v, y, ~train)


def strength_solvers(name: str, jac: np.ndarray, ref: np.ndarray, grid) -> list:
    """The registry solver ``name`` built once per strength of :data:`STRENGTHS` (NaN: its default)."""
    return [
        build(name, jac, grid=grid, reference=ref, **strength_parameters(name, None if np.isnan(st) else st))
        for st in STRENGTHS[name]
    ]


def score_all(problem, levels, solvers, truths, root) -> tuple[np.ndarray, dict, dict]:
    """Scores[level, target, solver, strength, segmentation] (NaN where a solver has fewer strengths)."""
    n_str = max(len(STRENGTHS[s]) for s in solvers)
    scores = np.full((len(levels), 4, len(solvers), n_str, len(SEGMENTATIONS)), np.nan)
    auto = np.full((len(levels), 4, len(solvers)), np.nan)
    images = {}
    for li, level in enumerate(levels):
        lv = ktc.load_level(level, root)
        systems = [problem.system(lv.data[t].voltages, lv.reference.voltages, lv.mask) for t in ktc.TARGETS]
        jac, ref = systems[0][0], systems[0][2]
        dv = np.column_stack([s[1] for s in systems])
        for si, name in enumerate(solvers):
            for k, solver in enumerate(strength_solvers(name, jac, ref, problem.grid)):
                for ti, t in enumerate(ktc.TARGETS):
                    x = solver(dv[:, ti]).x
                    img = to_challenge_image(problem.grid, x)
                    for gi, (frac, pres) in enumerate(SEGMENTATIONS):
                        scores[li, ti, si, k, gi] = ktc_score(truths[t], threshold_segmentation(img, frac, pres))
                    images[(level, t, name, k)] = img
            auto_solver = build(name, jac, grid=problem.grid, reference=ref)
            for ti, t in enumerate(ktc.TARGETS):
                x = auto_solver(dv[:, ti]).x
                seg = threshold_segmentation(to_challenge_image(problem.grid, x), *DEFAULT_SEGMENTATION)
                auto[li, ti, si] = ktc_score(truths[t], seg)
    return scores, auto, images


def select(scores: np.ndarray) -> dict:
    """Per solver: the oracle choice and the leave-one-target-out scores.

    Returns a dict with ``oracle`` (levels, 4, solvers) scores, ``oracle_choice``
    (solver -> (strength index, segmentation index)), ``cv`` (levels, 4, solvers).
    """
    n_lv, n_t, n_s = scores.shape[:3]
    flat = scores.reshape(n_lv, n_t, n_s, -1)  # settings = strength x segmentation
    oracle = np.empty((n_lv, n_t, n_s))
    cv = np.empty((n_lv, n_t, n_s))
    choice, cv_choice = {}, {}
    for s in range(n_s):
        mean_all = np.nanmean(flat[:, :, s], axis=(0, 1))
        best = int(np.nanargmax(mean_all))
        oracle[:, :, s] = flat[:, :, s, best]
        choice[s] = np.unravel_index(best, scores.shape[3:])
        for t in range(n_t):
            others = [u for u in range(n_t) if u != t]
            b = int(np.nanargmax(np.nanmean(flat[:, others, s], axis=(0, 1))))
            cv[:, t, s] = flat[:, t, s, b]
            cv_choice[(s, t)] = np.unravel_index(b, scores.shape[3:])
    # The same, choosing per level (on the other three targets of that level).
    cv_level = np.empty((n_lv, n_t, n_s))
    for s in range(n_s):
        for lv in range(n_lv):
            for t in range(n_t):
                others = [u for u in range(n_t) if u != t]
                b = int(np.nanargmax(np.nanmean(flat[lv, others, s], axis=0)))
                cv_level[lv, t, s] = flat[lv, t, s, b]
    return {"oracle": oracle, "oracle_choice": choice, "cv": cv, "cv_choice": cv_choice, "cv_level": cv_level}


def table(name: str, values: np.ndarray, levels, solvers) -> list[str]:
    lines = [
        f"### {name}",
        "",
        "| solver | " + " | ".join(f"L{lv}" for lv in levels) + " | mean |",
        "|---|" + "---|" * (len(levels) + 1),
    ]
    for si, s in enumerate(solvers):
        per = values[:, :, si].mean(axis=1)
        lines.append(f"| {s} | " + " | ".join(f"{p:.3f}" for p in per) + f" | {per.mean():.3f} |")
    return [*lines, ""]


def figures(outdir: Path, cal: dict, reference, images, truths, best_key) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = reference.voltages
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    rows = np.arange(93)  # the first three current patterns
    ax[0].plot(rows, y[rows], "k.", label="measured (empty tank)")
    ax[0].plot(rows, cal["nominal_fit"][rows], "-", label="uncalibrated")
    ax[0].plot(rows, cal["fit"][rows], "-", label="calibrated")
    ax[0].set(xlabel="row (patterns 1-3)", ylabel="V", title="reference fit")
    ax[0].legend()
    res_nom = (cal["nominal_fit"] - y).reshape(76, 31)
    res_fit = (cal["fit"] - y).reshape(76, 31)
    ax[1].plot(np.linalg.norm(res_nom, axis=1) / np.linalg.norm(y.reshape(76, 31), axis=1), label="uncalibrated")
    ax[1].plot(np.linalg.norm(res_fit, axis=1) / np.linalg.norm(y.reshape(76, 31), axis=1), label="calibrated")
    ax[1].set(xlabel="current pattern", ylabel="relative residual", title="residual per pattern")
    ax[1].legend()
    if len(cal["scan"]) > 1:
        sc = np.array([(w, r) for w, r, _, _ in cal["scan"]])
        ax[2].plot(sc[:, 0], sc[:, 1], "o-")
        ax[2].axhline(cal["reciprocity"], color="k", ls=":", label="reference non-reciprocity")
        ax[2].set(xlabel="electrode width / nominal", ylabel="relative residual", title="width scan (shared z)")
        ax[2].legend()
    fig.tight_layout()
    fig.savefig(outdir / "ktc2023_calibration.png", dpi=90)
    plt.close(fig)
    level, name, k, seg = best_key
    fig, ax = plt.subplots(3, 4, figsize=(12, 9))
    for i, t in enumerate(ktc.TARGETS):
        img = images[(level, t, name, k)]
        v = np.abs(img).max()
        ax[0, i].imshow(truths[t], vmin=0, vmax=2, cmap="viridis")
        ax[1, i].imshow(img, cmap="RdBu_r", vmin=-v, vmax=v)
        lab = threshold_segmentation(img, *seg)
        ax[2, i].imshow(lab, vmin=0, vmax=2, cmap="viridis")
        ax[2, i].set_title(f"score {ktc_score(truths[t], lab):.3f}")
        ax[0, i].set_title(f"truth {t}")
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"level {level}, {name}: truth / difference image / segmentation")
    fig.tight_layout()
    fig.savefig(outdir / "ktc2023_images.png", dpi=80)
    plt.close(fig)


def level_truths(root, level: int) -> dict:
    """Truths of a level: the training layout's shared set or the evaluation layout's per-level set."""
    try:
        return ktc.load_truths(root)
    except FemeitError:
        return ktc.load_truths(root, level)


def classical_scores(imager, levels, root) -> dict:
    """Public-target scores of the classical pipeline (both row weightings) and of all-water, per level."""
    from femeit.ktc2023.classical import CLASSICAL_SETTINGS

    out = {}
    for level in levels:
        lv = ktc.load_level(level, root)
        truths = level_truths(root, level)
        targets = [t for t in lv.data if t in truths]
        row = {"water": [ktc_score(truths[t], np.zeros_like(truths[t])) for t in targets], "targets": targets}
        for weighting in (True, False):
            imager.misfit_weighting = weighting
            row[weighting] = [
                ktc_score(truths[t], imager.segment_target(lv.data[t], lv.mask, CLASSICAL_SETTINGS[level]))
                for t in targets
            ]
        imager.misfit_weighting = True
        out[level] = row
    return out


def leave_one_out_weighting(public: dict) -> dict:
    """Leave-one-target-out for the one choice compared on the public targets: the row weighting.

    For each held-out target, the weighting (with or without the reference misfit) with the
    better mean score over the other targets of all levels is used on it.
    """
    levels = list(public)
    targets = public[levels[0]]["targets"]
    out = {level: [] for level in levels}
    for i, _ in enumerate(targets):
        others = [j for j in range(len(targets)) if j != i]

        def mean(w, others=others):
            return np.mean([public[lv][w][j] for lv in levels for j in others])

        pick = mean(True) >= mean(False)
        for lv in levels:
            out[lv].append(public[lv][pick][i])
    return out


def heldout_scores(imager, levels, n: int, learned=None) -> dict:
    """Simulated held-out targets (seed :data:`HELDOUT_SEED`): classical, all-water (and learned) scores per level.

    The targets come from :func:`femeit.ktc2023.targets.random_target` on a 4 mm mesh: another shape
    generator, mesh and seed than the learned pipeline's training set (``datasets/ktc2023_tank.toml``).
    """
    from femeit.ktc2023.classical import CLASSICAL_SETTINGS, segment
    from femeit.ktc2023.targets import add_noise, simulate_targets

    sims = simulate_targets(imager.model, imager.sigma0, n, HELDOUT_SEED)
    std = imager.noise_std()
    out = {}
    for level in levels:
        mask = ktc.usable_rows(imager.reference.protocol, level)
        rng = np.random.default_rng(100 + level)
        st = CLASSICAL_SETTINGS[level]
        cls, water, net = [], [], []
        for truth, dv in sims:
            noisy = add_noise(dv, std, mask, rng)
            img, noise = imager.image(noisy, mask, st.lam)
            cls.append(ktc_score(truth, segment(img, noise, st)))
            water.append(ktc_score(truth, np.zeros_like(truth)))
            if learned is not None:
                net.append(ktc_score(truth, learned.segment(noisy, level, mask)))
        out[level] = (float(np.mean(cls)), float(np.mean(water)), float(np.mean(net)) if net else float("nan"))
    return out


def learned_public_scores(learned, levels, root) -> dict:
    """Public-target scores of the learned pipeline per level (nothing in it was chosen on public data)."""
    out = {}
    for level in levels:
        lv = ktc.load_level(level, root)
        truths = level_truths(root, level)
        out[level] = [ktc_score(truths[t], learned.segment_target(lv.data[t], lv)) for t in lv.data if t in truths]
    return out


def learned_pipeline(imager, weights=None):
    """The learned pipeline on the classical pipeline's calibrated tank (shipped weights unless ``weights``)."""
    from femeit.learn.ktc_inputs import LevelInputs
    from femeit.learn.ktc_pipeline import WEIGHTS, LearnedKTC
    from femeit.learn.ktc_training import load

    return LearnedKTC(LevelInputs(imager.reference.protocol, imager), load(weights or WEIGHTS))


def classical_section(imager, levels, root, n_heldout, learned=None) -> tuple[list[str], bool]:
    """The generalising classical pipeline beside the organisers' baseline and all-water, public and simulated.

    With ``learned`` (a :class:`femeit.learn.ktc_pipeline.LearnedKTC`), the learned pipeline's scores too,
    on the same public targets and the same simulated held-out data.
    """
    public = classical_scores(imager, levels, root)
    loo = leave_one_out_weighting(public)
    held = heldout_scores(imager, levels, n_heldout, learned)
    if learned is not None:
        return learned_lines(public, loo, held, learned_public_scores(learned, levels, root), levels, n_heldout)
    lines = [
        "## Classical pipeline that generalises (femeit.ktc2023.classical)",
        "",
        "Settings chosen per level on simulated targets (`python validation/ktc2023_settings.py`), none on "
        "the public targets. The one choice compared on the public targets (weighting rows by the reference "
        "misfit or not) is scored leave-one-target-out. Simulated held-out set: "
        f"{n_heldout} new random targets (seed {HELDOUT_SEED}, finer mesh, the reference's noise level).",
        "",
        "| level | classical, public (leave-one-target-out) | as shipped | organisers' baseline | all-water | "
        "classical, simulated held-out | all-water, simulated |",
        "|---|---|---|---|---|---|---|",
    ]
    ok = True
    for level in levels:
        cv, shipped = float(np.mean(loo[level])), float(np.mean(public[level][True]))
        base = BASELINE_LEVELS[level - 1]
        ok = ok and cv > base
        lines.append(
            f"| {level} | {cv:.3f} | {shipped:.3f} | {base:.3f} | {np.mean(public[level]['water']):.3f} | "
            f"{held[level][0]:.3f} | {held[level][1]:.3f} |"
        )
    lines += ["", f"Classical above the baseline at every level run: {'yes' if ok else 'NO'}.", ""]
    return lines, ok


def learned_lines(public, loo, held, net_public, levels, n_heldout) -> tuple[list[str], bool]:
    """The table of both pipelines per level and the learned pipeline's acceptance check."""
    lines = [
        "## Learned and classical pipelines (femeit.learn.ktc_pipeline, femeit.ktc2023.classical)",
        "",
        "Learned: a U-Net on the classical linearised reconstruction, trained only on femeit's simulated tank "
        "data (`datasets/ktc2023_tank.toml`); no choice was made on the public targets, so its public "
        "scores need no leave-one-target-out. Classical: as above (public scores leave-one-target-out). "
        f"Simulated held-out: {n_heldout} targets of another generator and mesh (seed {HELDOUT_SEED}), "
        "never trained on; the same noisy data for both pipelines.",
        "",
        "| level | learned, public | classical, public (LOO) | organisers' baseline | all-water, public | "
        "learned, simulated | classical, simulated | all-water, simulated |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for level in levels:
        row = (
            float(np.mean(net_public[level])),
            float(np.mean(loo[level])),
            BASELINE_LEVELS[level - 1],
            float(np.mean(public[level]["water"])),
            held[level][2],
            held[level][0],
            held[level][1],
        )
        rows.append(row)
        lines.append(f"| {level} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    mean = np.mean(rows, axis=0)
    lines.append("| mean | " + " | ".join(f"{v:.3f}" for v in mean) + " |")
    public_ok, held_ok = mean[0] >= 0.80, mean[4] >= mean[5] + 0.1
    lines += [
        "",
        f"Learned mean over levels on the public targets {mean[0]:.3f} (acceptance >= 0.80: "
        f"{'yes' if public_ok else 'NO'}); on the simulated held-out set {mean[4]:.3f} against classical "
        f"{mean[5]:.3f} (acceptance: classical + 0.1: {'yes' if held_ok else 'NO'}).",
        "",
    ]
    return lines, bool(public_ok and held_ok)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="level 1, Tikhonov and Occam only (< 60 s)")
    ap.add_argument("-o", "--out", default=str(Path(__file__).parent / "out"))
    ap.add_argument("--root", default=None, help="folder with the challenge's level_k/ and ground_truth/")
    ap.add_argument(
        "--classical-only", action="store_true", help="only the generalising classical pipeline's table (all levels)"
    )
    ap.add_argument("--heldout", type=int, default=40, help="simulated held-out targets (full and classical-only runs)")
    ap.add_argument(
        "--learned",
        action="store_true",
        help="the learned pipeline beside the classical one (all levels, public and simulated held-out)",
    )
    ap.add_argument("--weights", default=None, help="ktc-unet weights for --learned (default: the shipped ones)")
    args = ap.parse_args(argv)
    if args.classical_only or args.learned:
        imager = TankImager.calibrated(ktc.load_level(1, args.root).reference)
        learned = learned_pipeline(imager, args.weights) if args.learned else None
        lines, ok = classical_section(imager, list(ktc.LEVELS), args.root, args.heldout, learned)
        print("\n".join(lines))
        return 0 if ok else 1
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    level1 = ktc.load_level(1, args.root)
    truths = ktc.load_truths(args.root)
    cal = {}
    model, sigma = calibrate_tank(level1.reference, args.quick, cal)
    print(f"calibration ({cal['seconds']:.1f} s); reference non-reciprocity {cal['reciprocity']:.2%}")
    for label, _wf, s, z, r in cal["rows"]:
        print(f"  {label}: sigma {s:.4g} S, z {z:.3g} ohm m, residual {r:.2%}")
    r = ktc.RADIUS
    grid = PixelGrid(model.mesh, bounds=(-r, r, -r, r), shape=(32, 32))
    problem = DifferenceProblem.build(model, sigma, grid)
    levels = [1] if args.quick else list(ktc.LEVELS)
    solvers = ["tikhonov", "occam"] if args.quick else list(STRENGTHS)
    scores, auto, images = score_all(problem, levels, solvers, truths, args.root)
    sel = select(scores)
    classical_levels = [1, 7] if args.quick else list(ktc.LEVELS)
    if args.quick:  # the quick calibration is the pipeline's (nominal width, shared z): reuse its Jacobian
        imager = TankImager(level1.reference, model, sigma, grid, problem.jacobian)
    else:
        imager = TankImager.calibrated(level1.reference)
    n_heldout = 6 if args.quick else args.heldout
    classical_lines, classical_ok = classical_section(imager, classical_levels, args.root, n_heldout)
    lines = [
        "# KTC2023 validation",
        "",
        f"Run: `python validation/ktc2023.py{' --quick' if args.quick else ''}`",
        "",
        "## Calibration (level-1 empty-tank reference, 2356 rows)",
        "",
        f"Reference non-reciprocity ||T - T'|| / ||T + T'|| = {cal['reciprocity']:.2%} (no reciprocal model "
        "can remove it).",
        "",
        "| model | width factor | sigma (S) | z (ohm m) | relative residual |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {w:g} | {s:.4g} | {z:.3g} | {res:.2%} |" for a, w, s, z, res in cal["rows"]]
    if "per_electrode_z" in cal:
        lines += ["", "Per-electrode z (ohm m): " + ", ".join(f"{v:.3g}" for v in cal["per_electrode_z"])]
    if "breakdown" in cal:
        b = cal["breakdown"]
        lines += [
            "",
            "Where the residual of the reciprocal model (z per electrode) lies, as ||r_subset|| / ||y||: "
            f"{b['touching'][0]} readings on current-carrying electrodes {b['touching'][1]:.2%}, "
            f"the {b['away'][0]} others {b['away'][1]:.2%} (those are {b['away_relative']:.1%} off "
            "relative to their own size; the common-mode rows below show what they are). "
            "Per pattern family, ||r|| / ||y||: " + ", ".join(f"{k} {v:.2%}" for k, v in b["families"].items()) + ".",
        ]
    if "common_mode" in cal:
        lines += [
            "",
            "The common-mode rows model the instrument, not the tank: each channel U_k - U_k+1 reads "
            "eps_k times the common-mode voltage (measured from the current sink) on top of the difference. "
            "These rows are diagnostic: imaging uses the reciprocal model above (the term cancels to first order in "
            "difference data). With the fitted term subtracted from the reference, its non-reciprocity falls "
            f"from {cal['reciprocity']:.2%} to {cal['reciprocity_corrected']:.2%}. "
            "Fitted eps_k: " + ", ".join(f"{v:.4f}" for v in cal["common_mode"]),
        ]
    if "holdout" in cal:
        h0, h1 = cal["holdout"]
        lines += [
            "",
            f"Hold-out check: fitted on patterns 17-76 only, the residual on patterns 1-16 is {h0:.2%} "
            f"for the reciprocal model (sigma + shared z) and {h1:.2%} with the common-mode term: the "
            "coefficients predict current patterns they were not fitted on.",
        ]
    lines += [
        "",
        "## Scores (mean over the 4 targets per level)",
        "",
        f"Organisers' baseline: {BASELINE['level 1']} at level 1, {BASELINE['all']} over all levels.",
        "",
    ]
    lines += table("auto (no truth used)", auto, levels, solvers)
    lines += table("cv (leave one target out; the held-out target's score)", sel["cv"], levels, solvers)
    lines += table(
        "cv per level (leave one target out, choosing on the other three of the same level)",
        sel["cv_level"],
        levels,
        solvers,
    )
    lines += table(
        "oracle (one setting for all cases, chosen with the truth: an upper bound for one fixed setting)",
        sel["oracle"],
        levels,
        solvers,
    )
    lines += ["Oracle settings (strength, threshold fraction, presence):", ""]
    for si, s in enumerate(solvers):
        k, g = sel["oracle_choice"][si]
        lines.append(f"- {s}: strength {STRENGTHS[s][k]:g}, segmentation {SEGMENTATIONS[g]}")
        cvs = [
            (float(STRENGTHS[s][sel["cv_choice"][(si, t)][0]]), SEGMENTATIONS[sel["cv_choice"][(si, t)][1]])
            for t in range(4)
        ]
        lines.append(f"  - cv choices (held-out target 1..4): {cvs}")
    cv_l1 = sel["cv"][0].mean(axis=0)
    cv_all = sel["cv"].mean(axis=(0, 1))
    best = int(np.argmax(cv_all))
    k, g = sel["oracle_choice"][best]
    elapsed = time.perf_counter() - start
    lines += [
        "",
        f"Best solver by cv score over all levels: **{solvers[best]}**: level 1 {cv_l1[best]:.3f}, "
        f"all levels {cv_all[best]:.3f}.",
        "",
        f"Runtime {elapsed:.0f} s.",
    ]
    lines += ["", *classical_lines]
    (outdir / "ktc2023.md").write_text("\n".join(lines) + "\n")
    figures(outdir, cal, level1.reference, images, truths, (1, solvers[best], k, SEGMENTATIONS[g]))
    print("\n".join(lines[lines.index("## Scores (mean over the 4 targets per level)") :]))
    if args.quick:
        ok = cv_l1.max() > BASELINE["level 1"]
    else:
        ok = cv_l1[best] >= 0.75 and cv_all[best] >= 0.65
    # The calibration's acceptance: the tank plus instrument model within a few percent
    # (under 5 %), and the instrument term must improve held-out patterns.
    cm_residual = cal["rows"][-1][4] if args.quick else min(r[4] for r in cal["rows"] if "common-mode" in r[0])
    cal_ok = cm_residual < 0.05 and ("holdout" not in cal or cal["holdout"][1] < cal["holdout"][0])
    print(f"calibration: tank + instrument model residual {cm_residual:.2%} ({'ok' if cal_ok else 'not < 5 %'})")
    ok = ok and cal_ok and classical_ok
    print("PASS" if ok else "FAIL: the acceptance scores or the calibration are not reached (see the tables)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
