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
* Four two-phase models: D1 an off-centre bubble, D2 two bubbles, D3 a gas
  annulus around a liquid core, D4 a stratified layer (gas above y = 8 mm).
* Algorithms (femeit.inverse.landweber): 1 plain projected Landweber with S0
  after 500, 600 and 1400 iterations; 2 correction without penalty and 3
  correction with the error penalty (B = 1), after 1, 2 and 10 corrections
  (500 iterations, then 100 per correction: 500, 600, 1400 in all).
* Noise-free and 30 dB (white Gaussian on the object data, seed fixed per model).
* Metrics on the inversion mesh's elements against the phantom's area
  fractions there: image error ||s - s*|| / ||s*|| and correlation coefficient
  (the paper's definitions, sums over the K elements).

Acceptance check (exit status): after 2 corrections (600 iterations) Algorithm 3
has a lower image error and a higher CC than Algorithm 1 at 600 iterations on
at least 3 of the 4 models, noise-free and noisy.  Writes
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
from femeit.phantom import Annulus, Disk, HalfSpace, Phantom
from femeit.protocol import Protocol

RADIUS = 0.025
LIQUID, GAS = 1.0, 1e-3
CONTACT = 1e-5
MODELS = {
    "D1 bubble": Phantom(LIQUID, ((Disk((0.009, 0.005), 0.007), GAS),)),
    "D2 two bubbles": Phantom(LIQUID, ((Disk((-0.010, 0.008), 0.005), GAS), (Disk((0.007, -0.010), 0.006), GAS))),
    "D3 annulus": Phantom(LIQUID, ((Annulus((0.0, 0.0), 0.010, 0.016), GAS),)),
    "D4 stratified": Phantom(LIQUID, ((HalfSpace((0.0, 1.0), 0.008), GAS),)),
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
    for algorithm, penalty in ((2, None), (3, 1.0)):
        result = corrected_landweber(
            model, data, reference, LIQUID, corrections=max(CHECKPOINTS), iterations=(500, 100), penalty=penalty
        )
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
    timing = time_algorithm3(model, fine_model, fine_mesh)
    failures = report(results, mesh, timing, args.out)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


def time_algorithm3(model, fine_model, fine_mesh) -> float:
    """Median time of Algorithm 3, 2 corrections, 600 iterations (both Jacobians included)."""
    data = fine_model.simulate(MODELS["D1 bubble"].on_mesh(fine_mesh))
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
        wins = 0
        for name in MODELS:
            scores = results[(noise, name)]["scores"]
            cells = [f"{scores[(a, c)][0]:.3f} / {scores[(a, c)][1]:.3f}" for a in (1, 2, 3) for c in CHECKPOINTS]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            (re1, cc1), (re3, cc3) = scores[(1, 2)], scores[(3, 2)]
            wins += re3 < re1 and cc3 > cc1
        lines += ["", f"Algorithm 3 (2 corrections) beats Algorithm 1 (600 iterations) on {wins} of 4 models.", ""]
        if wins < 3:
            failures.append(f"{label}: Algorithm 3 beats Algorithm 1 on only {wins} of 4 models")
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
    text += "\n" + ("\n".join(f"- FAIL: {f}" for f in failures) if failures else "All checks pass.") + "\n"
    print(text)
    (out / "landweber_correction.md").write_text(text)
    plot(results, mesh, out)
    return failures


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
