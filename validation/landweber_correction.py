"""Landweber with sensitivity-matrix correction and error penalty (ERT paper).

The ERT paper: Math. Probl. Eng. 2019, article 6384132, doi:10.1155/2019/6384132.

Run:  python validation/landweber_correction.py [-o validation/out]

Set-up: a 2D circular sensor of inner diameter
50 mm, 16 electrodes 5 mm wide, adjacent drive and measurement, the 104
reciprocal-unique readings, liquid 1 S/m, gas 1e-3 S/m (the paper's 0 S/m made
positive so that the forward model stays well posed), contact impedance
1e-5 Ohm m.

* Data: a fine mesh (about 13k triangles) with the phantom's conductivity
  per element by area fraction; the reference is the same mesh filled with
  liquid.  Inversion: a different, coarse mesh of about 1.5k triangles, one
  parameter per element (the paper's 1536).  No inverse crime: the meshes
  differ and neither follows the phantom.
* Four two-phase models.  The paper draws them (its Fig. 6) but its text
  says only this of them: D1 and D4 change the boundary voltages more than
  D2 and D3 (its Fig. 10(a)).  Ours, gas away from the electrodes: D1 one
  large central bubble (radius 12 mm), D2 one small off-centre bubble (5 mm),
  D3 two small bubbles (4 mm), D4 three bubbles (7 mm).  The study asserts
  that ordering of delta_0 = ||U - U0|| / ||U0|| (it fails otherwise).
* Algorithms (femeit.inverse.landweber): 1 plain projected Landweber with S0
  after 500, 600 and 1400 iterations; 2 correction without penalty and 3
  correction with the error penalty (B = 1), after 1, 2 and 10 corrections
  (500 iterations, then 100 per correction: 500, 600, 1400 in all).
* Noise-free and 30 dB (white Gaussian on the object data, seed fixed per model).
* Metrics on the inversion mesh's elements against the phantom's area
  fractions there: image error ||s - s*|| / ||s*|| and correlation coefficient
  (the paper's definitions, sums over the K elements).

Checks, each per model and noise case (the paper gives figures as plots,
not numbers, so each check is a statement of its text):

* ordering: delta_0 of D1 and D4 above those of D2 and D3 (section 4.2);
* 2 corr vs Alg 1: after 2 corrections Algorithm 3 has a lower image error
  and a higher CC than Algorithm 1 at 600 iterations (Figs. 12 and 14);
* 2 corr vs Alg 2: the same against Algorithm 2 after 2 corrections (Fig. 12,
  noise-free);
* first correction: for D2 and D3 Algorithm 3's image error after 1
  correction is above Algorithm 1's at 500 iterations, and falls at the second
  correction; for D1 and D4 it is below (Figs. 8-9, noise-free);
* over-relaxation: beta_0 > 1 for D2 (section 4.2, Fig. 10(b)).

Every outcome is printed per case.  The exit status is non-zero when the
ordering fails or a check misses that is not listed, with its reason, in
KNOWN_MISSES.  Writes
``landweber_correction.md`` and PNGs of the images and of the error and CC
against the number of corrections.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import femeit as fe
from femeit import metrics
from femeit.forward import ForwardModel
from femeit.inverse.landweber import corrected_landweber
from femeit.noise import add_noise
from femeit.phantom import Disk, Phantom
from femeit.protocol import Protocol

RADIUS = 0.025
LIQUID, GAS = 1.0, 1e-3
CONTACT = 1e-5
MODELS = {
    "D1": Phantom(LIQUID, ((Disk((0.0, 0.0), 0.012), GAS),)),
    "D2": Phantom(LIQUID, ((Disk((0.008, 0.006), 0.005), GAS),)),
    "D3": Phantom(LIQUID, ((Disk((-0.008, 0.007), 0.004), GAS), (Disk((0.007, -0.008), 0.004), GAS))),
    "D4": Phantom(LIQUID, tuple((Disk(c, 0.007), GAS) for c in ((0.0, 0.010), (-0.009, -0.006), (0.009, -0.006)))),
}
LARGE, SMALL = ("D1", "D4"), ("D2", "D3")  # voltage change, the paper's section 4.2
# Misses seen in the full run, with their reasons; any other miss fails the study.
_RESTRAINT = (
    "with B = 0.5 beta_0 is 1.15-1.17 for D1 and D4 as well (their delta_0 0.35-0.37 is below 1 - B), so the first "
    "correction over-relaxes where the paper describes a 'punitive restraint'; the RE differs by 0.002-0.003. The "
    "paper's lost B would have to lie in (1 - delta_0(D4), 1 - delta_0(D2)) = (0.63, 0.91) for our models to restrain "
    "D1, D4 and over-relax D2; we do not pick B from that, since it would be fitted to these outcomes"
)
_OVERSHOOT = (
    "beta_0 = 1.7 over-relaxes the first correction of the small bubbles (RE 0.17-0.21 after it, as the paper says "
    "for D2 and D3), and one more correction does not recover Algorithm 1's image; after 10 corrections Algorithm 3 "
    "is ahead (noise-free D3: RE 0.068 / CC 0.899 against Algorithm 1's 0.132 / 0.789 at 1400 iterations)"
)
KNOWN_MISSES: dict[tuple[str, str, str], str] = {
    ("noise-free", "D1", "first correction better"): _RESTRAINT,
    ("noise-free", "D4", "first correction better"): _RESTRAINT,
    ("noise-free", "D2", "2 corr vs Alg 2"): _OVERSHOOT + "; here the RE is lower and the CC lower by 0.002",
    ("noise-free", "D3", "2 corr vs Alg 1"): _OVERSHOOT,
    ("noise-free", "D3", "2 corr vs Alg 2"): _OVERSHOOT,
    ("SNR 30 dB", "D2", "2 corr vs Alg 1"): _OVERSHOOT + "; here the RE is lower and the CC lower by 0.018",
    ("SNR 30 dB", "D3", "2 corr vs Alg 1"): _OVERSHOOT,
}
CHECKPOINTS = (1, 2, 10)  # corrections; Algorithm 1 at the matching iteration counts
ITERATIONS = {1: 500, 2: 600, 10: 1400}


def sensor(h: float) -> fe.CircleSpec:
    return fe.CircleSpec(radius=RADIUS, n_electrodes=16, electrode_width=0.005, h=h, h_electrode=h / 2)


def protocol() -> Protocol:
    full = Protocol.adjacent(16)
    return Protocol.from_abmn(full.abmn[full.reciprocal_unique_rows()], 16)


def run_model(model, fine_model, fine_mesh, mesh, phantom, snr_db, seed) -> dict:
    truth = phantom.on_mesh(mesh)
    reference = fine_model.simulate(LIQUID)
    data = fine_model.simulate(phantom.on_mesh(fine_mesh))
    if snr_db is not None:
        data = add_noise(data, snr_db=snr_db, seed=seed)
    images = {}
    for n_corr in CHECKPOINTS:
        plain = corrected_landweber(
            model, data, reference, LIQUID, corrections=1, iterations=(ITERATIONS[n_corr], 0), penalty=None
        )
        images[(1, n_corr)] = plain.x
    for algorithm, penalty in ((2, None), (3, 0.5)):
        result = corrected_landweber(
            model, data, reference, LIQUID, corrections=max(CHECKPOINTS), iterations=(500, 100), penalty=penalty
        )
        images[(algorithm, "delta0")] = float(np.linalg.norm(data - reference) / np.linalg.norm(reference))
        for n_corr in range(1, max(CHECKPOINTS) + 1):
            images[(algorithm, n_corr)] = result.corrections[n_corr - 1].x
        images[(algorithm, "delta")] = [c.delta for c in result.corrections]
        images[(algorithm, "beta")] = [c.beta for c in result.corrections]
    scores = {
        key: (metrics.relative_error(truth, x), metrics.correlation_coefficient(truth, x))
        for key, x in images.items()
        if not isinstance(key[1], str)
    }
    return {"truth": truth, "images": images, "scores": scores}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    mesh = fe.mesh_from_spec(sensor(0.00245))
    fine_mesh = fe.mesh_from_spec(sensor(0.0007))
    prot = protocol()
    model = ForwardModel(mesh, prot, contact_impedance=CONTACT)
    fine_model = ForwardModel(fine_mesh, prot, contact_impedance=CONTACT)
    print(f"inversion mesh {mesh.n_elements} triangles, data mesh {fine_mesh.n_elements}; {prot.n_rows} readings")

    results = {}
    for noise in (None, 30.0):
        for k, (name, phantom) in enumerate(MODELS.items()):
            results[(noise, name)] = run_model(model, fine_model, fine_mesh, mesh, phantom, noise, seed=k)
    timing = time_algorithm3(model, fine_model, fine_mesh)  # a figure, not a check
    failures = report(results, mesh, timing, args.out)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


def time_algorithm3(model, fine_model, fine_mesh) -> float:
    """Median time of Algorithm 3, 2 corrections, 600 iterations (both Jacobians included): reported only."""
    data = fine_model.simulate(MODELS["D1"].on_mesh(fine_mesh))
    reference = fine_model.simulate(LIQUID)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        corrected_landweber(model, data, reference, LIQUID, corrections=2, iterations=(500, 100), penalty=1.0)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def report(results: dict, mesh, timing: float, out: Path) -> list[str]:
    lines = ["# Landweber with sensitivity correction (ERT paper): image error / CC", ""]
    failures = []
    for noise in (None, 30.0):
        label = "noise-free" if noise is None else f"SNR {noise:g} dB"
        lines += [f"## {label}", ""]
        header = "| model | " + " | ".join(
            f"Alg {a} {'it ' + str(ITERATIONS[c]) if a == 1 else str(c) + ' corr'}"
            for a in (1, 2, 3)
            for c in CHECKPOINTS
        )
        lines += [header + " |", "|---|" + "---|" * 9]
        for name in MODELS:
            scores = results[(noise, name)]["scores"]
            cells = [f"{scores[(a, c)][0]:.3f} / {scores[(a, c)][1]:.3f}" for a in (1, 2, 3) for c in CHECKPOINTS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", *checks(results, noise, failures), ""]
        lines += ["| model | delta_0 .. delta_3 (Alg 3) | beta_0 .. beta_3 (Alg 3) |", "|---|---|---|"]
        for name in MODELS:
            images = results[(noise, name)]["images"]
            deltas = ", ".join(f"{d:.3f}" for d in images[(3, "delta")][:4])
            betas = ", ".join(f"{b:.3f}" for b in images[(3, "beta")][:4])
            lines.append(f"| {name} | {deltas} | {betas} |")
        lines.append("")
    lines.append(
        f"Algorithm 3, 2 corrections, 600 iterations, {mesh.n_elements} elements: {timing * 1e3:.0f} ms (median of 5)"
    )
    text = "\n".join(lines) + "\n"
    text += "\n" + ("\n".join(f"- FAIL: {f}" for f in failures) if failures else "No unexpected miss.") + "\n"
    print(text)
    (out / "landweber_correction.md").write_text(text)
    plot(results, mesh, out)
    return failures


def checks(results: dict, noise, failures: list) -> list[str]:
    """Per-case verdicts of the paper's statements (module docstring); misses named with their reasons."""
    label = "noise-free" if noise is None else f"SNR {noise:g} dB"
    rows = ["| model | check | femeit | verdict |", "|---|---|---|---|"]
    misses = []

    def record(name: str, check: str, text: str, ok: bool) -> None:
        rows.append(f"| {name} | {check} | {text} | {'pass' if ok else 'MISS'} |")
        if not ok:
            misses.append((name, check, text))

    delta0 = {name: results[(noise, name)]["images"][(3, "delta0")] for name in MODELS}
    order = min(delta0[n] for n in LARGE) > max(delta0[n] for n in SMALL)
    rows.append(
        "| all | ordering: delta_0 of D1, D4 > D2, D3 | "
        + ", ".join(f"{n} {d:.3f}" for n, d in delta0.items())
        + f" | {'pass' if order else 'FAIL'} |"
    )
    if not order:
        failures.append(f"{label}: the models do not have the paper's ordering of the voltage change {delta0}")
    for name in MODELS:
        sc = results[(noise, name)]["scores"]
        (re1, cc1), (re2, cc2), (re3, cc3) = sc[(1, 2)], sc[(2, 2)], sc[(3, 2)]
        record(
            name, "2 corr vs Alg 1", f"RE {re3:.3f} vs {re1:.3f}, CC {cc3:.3f} vs {cc1:.3f}", re3 < re1 and cc3 > cc1
        )
        if noise is None:
            record(
                name,
                "2 corr vs Alg 2",
                f"RE {re3:.3f} vs {re2:.3f}, CC {cc3:.3f} vs {cc2:.3f}",
                re3 < re2 and cc3 > cc2,
            )
            re3_1, re1_500 = sc[(3, 1)][0], sc[(1, 1)][0]
            if name in SMALL:
                ok = re3_1 > re1_500 and re3 < re3_1
                text = f"RE after 1 corr {re3_1:.3f} vs Alg 1 {re1_500:.3f}, after 2 corr {re3:.3f}"
                record(name, "first correction worse, then better", text, ok)
            else:
                record(name, "first correction better", f"RE {re3_1:.3f} vs Alg 1 {re1_500:.3f}", re3_1 < re1_500)
            if name == "D2":
                beta0 = results[(noise, name)]["images"][(3, "beta")][0]
                record(name, "over-relaxation beta_0 > 1", f"beta_0 {beta0:.3f}", beta0 > 1)
    rows += ["", f"Misses ({label}) and their reasons:", ""]
    for name, check, text in misses:
        reason = KNOWN_MISSES.get((label, name, check))
        rows.append(f"- {name}, {check}: {text}; " + (f"reason: {reason}" if reason else "UNEXPECTED"))
        if reason is None:
            failures.append(f"{label}, {name}, {check}: {text}")
    if not misses:
        rows.append("- none")
    return rows


def plot(results: dict, mesh, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tri = (mesh.points[:, 0] * 1e3, mesh.points[:, 1] * 1e3, mesh.elements)
    for noise in (None, 30.0):
        tag = "clean" if noise is None else f"snr{noise:g}"
        columns = [("truth", None)] + [
            ((a, c), f"Alg {a}, " + (f"{ITERATIONS[c]} it" if a == 1 else f"{c} corr"))
            for c in (2, 10)
            for a in (1, 2, 3)
        ]
        fig, axes = plt.subplots(len(MODELS), len(columns), figsize=(2 * len(columns), 2 * len(MODELS)))
        for i, name in enumerate(MODELS):
            res = results[(noise, name)]
            for j, (key, title) in enumerate(columns):
                ax = axes[i, j]
                values = res["truth"] if key == "truth" else res["images"][key]
                ax.tripcolor(*tri, facecolors=values, vmin=0, vmax=1, cmap="viridis")
                ax.set_aspect("equal")
                ax.axis("off")
                if i == 0:
                    ax.set_title(title or "truth", fontsize=8)
                if j == 0:
                    ax.text(-30, 0, name, rotation=90, va="center", ha="right", fontsize=8)
        fig.suptitle(f"Landweber correction, {'noise-free' if noise is None else f'SNR {noise:g} dB'}", fontsize=9)
        fig.savefig(out / f"landweber_correction_images_{tag}.png", dpi=90)
        plt.close(fig)

        fig, (ax_re, ax_cc) = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
        corr = np.arange(1, max(CHECKPOINTS) + 1)
        for name, colour in zip(MODELS, ("C0", "C1", "C2", "C3"), strict=True):
            res = results[(noise, name)]
            for algorithm, style in ((2, "--"), (3, "-")):
                truth = res["truth"]
                re = [metrics.relative_error(truth, res["images"][(algorithm, c)]) for c in corr]
                cc = [metrics.correlation_coefficient(truth, res["images"][(algorithm, c)]) for c in corr]
                ax_re.plot(corr, re, style, color=colour, label=f"{name}, Alg {algorithm}")
                ax_cc.plot(corr, cc, style, color=colour)
            ax_re.axhline(res["scores"][(1, 2)][0], color=colour, lw=0.6, ls=":")
            ax_cc.axhline(res["scores"][(1, 2)][1], color=colour, lw=0.6, ls=":")
        ax_re.set(xlabel="corrections", ylabel="image error", title="image error (dotted: Alg 1, 600 it)")
        ax_cc.set(xlabel="corrections", ylabel="CC", title="correlation coefficient")
        ax_re.legend(fontsize=6)
        fig.savefig(out / f"landweber_correction_curves_{tag}.png", dpi=90)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
