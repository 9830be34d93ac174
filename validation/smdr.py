"""SMDR against Tikhonov and the other femeit solvers on the SMDR paper's set-up (Sensors 2024).

The SMDR paper: Sensors 24(2), 333 (2024), doi:10.3390/s24020333.

Run:  python validation/smdr.py [-o validation/out] [--quick]

Set-up (paper section 3.1): a 2D disk of radius 1 m,
16 electrodes 5 cm wide, adjacent drive and measurement (208 readings),
reference 1 S/m, objects 2 S/m, contact impedance 0.01 Ohm m (ours; the paper
simulates in COMSOL and does not say).

* Data: a fine mesh (about 35k triangles) with the phantom's conductivity per
  element by area fraction; the reference is the same mesh at 1 S/m.
  Inversion: a different, coarser mesh (h = 4 cm) and a 62 x 62 pixel grid
  clipped to the disk (about 3120 pixels; the paper's grid size is lost in our
  copy).  No inverse crime: the meshes differ and neither follows the phantoms.
* Relative (normalised) difference data ``(v - v0) / v0`` and the matching
  sensitivity of the relative conductivity change (Gasulla 2005 eqs. 24-25,
  ``femeit.inverse.normalize_system``), the normalisation of the paper's eq. 4.
  The true image is the relative change, 1 inside the objects and 0 outside,
  averaged over each pixel.
* Six phantoms in the spirit of the paper's Fig. 3 (its exact geometry is
  lost): one circle near the centre, one near the edge, two circles near the
  centre, three near the edge, ten small circles, a square.
* Noise-free and SNR 30 dB (white Gaussian on the object frame,
  ``femeit.noise.add_noise``, seed = phantom number; the reference is noise-free).
* lambda: one value for SMDR and Tikhonov, the median over the six noisy
  frames of the L-curve corner (``choose_lambda``); the other registry solvers
  choose their own parameter per frame (L-curve, discrete L-curve) or use
  their fixed rule (Landweber 500 iterations, backprojection).
* Metrics on the pixels: CC on the raw images and RE = ||x_hat - x|| / ||x||
  (paper eqs. 22-23, ``femeit.metrics``) after scaling every image the same
  way, by eq. 19's ``max(x, 0) / max(x)`` (SMDR's image has that scale
  already; before, its [0, 1] image was compared with Tikhonov's unscaled one).
  No location compensation for any method: the paper applies a function of
  r_i / R to all of them, but its formula is lost in our copy and could not be
  recovered (``femeit.inverse.smdr`` docstring).
* Times: SMDR and Tikhonov, median wall time per image after the
  precomputation (SVD, Gram matrix, reconstruction matrices); the other
  solvers, one registry call each (setup included).  One process.  Figures,
  not checks.

Results (full run): mean CC / RE, SMDR 0.809 / 0.612 against Tikhonov
0.730 / 0.797 noise-free, 0.744 / 0.622 against 0.682 / 0.727 at 30 dB.

Checks, per phantom and noise level (the paper's statement, section 3.1 and
Fig. 5: SMDR's CC higher and RE lower than Tikhonov's): each outcome is
printed; the exit status is non-zero for a miss not listed, with its reason,
in KNOWN_MISSES (the circle at the edge noise-free, the ten circles' CC at
30 dB).  Writes ``smdr.md`` and PNGs of the images (with SMDR's intermediate
products) and of CC / RE per phantom.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import femeit as fe
from femeit import metrics
from femeit.forward import ForwardModel
from femeit.grids import PixelGrid
from femeit.inverse import SMDR, choose_lambda, normalize_system, prepare
from femeit.inverse.registry import solve
from femeit.noise import add_noise
from femeit.phantom import Box, Disk, Phantom
from femeit.protocol import Protocol

RADIUS = 1.0
BACKGROUND, OBJECT = 1.0, 2.0
CONTACT = 0.01
GRID_SHAPE = (62, 62)
NOISES = (None, 30.0)


def _ring(n: int, r: float, size: float, phase_deg: float = 0.0) -> tuple:
    angles = np.deg2rad(phase_deg + 360.0 * np.arange(n) / n)
    return tuple((Disk((r * np.cos(a), r * np.sin(a)), size), OBJECT) for a in angles)


PHANTOMS = {
    "1 circle, centre": Phantom(BACKGROUND, ((Disk((0.1, 0.15), 0.3), OBJECT),)),
    "1 circle, edge": Phantom(BACKGROUND, ((Disk((0.55, -0.35), 0.25), OBJECT),)),
    "2 circles, centre": Phantom(BACKGROUND, ((Disk((-0.3, 0.1), 0.2), OBJECT), (Disk((0.3, -0.05), 0.2), OBJECT))),
    "3 circles, edge": Phantom(BACKGROUND, _ring(3, 0.6, 0.2, 90.0)),
    "10 small circles": Phantom(
        BACKGROUND, (*_ring(8, 0.68, 0.1, 22.5), (Disk((-0.2, 0.1), 0.1), OBJECT), (Disk((0.25, -0.1), 0.1), OBJECT))
    ),
    "square": Phantom(BACKGROUND, ((Box((-0.45, -0.1), (0.1, 0.45)), OBJECT),)),
}
OTHERS = ("occam", "tsvd", "landweber", "backprojection")


def sensor(h: float) -> fe.CircleSpec:
    return fe.CircleSpec(radius=RADIUS, n_electrodes=16, electrode_width=0.05, h=h, h_electrode=min(h / 3, 0.0125))


def build(data_h: float = 0.015):
    """Meshes, models, grid, normalised sensitivity and the data of every phantom and noise level."""
    mesh, fine_mesh = fe.mesh_from_spec(sensor(0.04)), fe.mesh_from_spec(sensor(data_h))
    protocol = Protocol.adjacent(16)
    model = ForwardModel(mesh, protocol, contact_impedance=CONTACT)
    fine_model = ForwardModel(fine_mesh, protocol, contact_impedance=CONTACT)
    grid = PixelGrid(mesh, (-RADIUS, RADIUS, -RADIUS, RADIUS), GRID_SHAPE)
    jac = model.jacobian(BACKGROUND, basis=grid.P)
    z0_model = model.simulate(BACKGROUND)
    jac_rel = normalize_system(jac, z0_model, BACKGROUND)
    v0 = fine_model.simulate(BACKGROUND)
    frames = {}
    for k, (name, phantom) in enumerate(PHANTOMS.items()):
        v = fine_model.simulate(phantom.on_mesh(fine_mesh))
        truth = (phantom.on_grid(grid, mesh) - BACKGROUND) / BACKGROUND
        for noise in NOISES:
            vn = v if noise is None else add_noise(v, snr_db=noise, seed=k)
            frames[(noise, name)] = {"v": vn, "truth": truth}
    return mesh, fine_mesh, grid, jac, jac_rel, v0, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument(
        "--quick", action="store_true", help="SMDR and Tikhonov only, data from a 0.025 m mesh (still finer)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        global OTHERS
        OTHERS = ()
    start = time.perf_counter()
    mesh, fine_mesh, grid, jac, jac_rel, v0, frames = build(0.025 if args.quick else 0.015)
    print(
        f"data mesh {fine_mesh.n_elements} triangles, inversion mesh {mesh.n_elements}, "
        f"grid {grid.n_params} pixels; setup {time.perf_counter() - start:.0f} s"
    )

    t = time.perf_counter()
    system = prepare(jac_rel)
    corners = [choose_lambda(system, (f["v"] - v0) / v0)["lam"] for (noise, _), f in frames.items() if noise]
    lam = float(np.median(corners))
    solver = SMDR(jac_rel, lam)
    tik = system.tikhonov_matrix(lam)
    precompute = time.perf_counter() - t
    print(f"lambda = {lam:.4g} = {lam / system.s[0] ** 2:.4f} s_max^2 (median L-curve corner of the noisy frames)")

    results, times = {}, {name: [] for name in ("smdr", "tikhonov", *OTHERS)}
    for key, f in frames.items():
        dz = (f["v"] - v0) / v0
        res = {"smdr": solver(dz)}
        images = {"smdr": res["smdr"].x, "tikhonov": tik @ dz}
        for name in OTHERS:
            t = time.perf_counter()
            with np.errstate(divide="ignore", invalid="ignore"):  # log(0) on the discrete L-curve's tail
                if name == "backprojection":  # relative conductivity change from the raw data
                    images[name] = solve(name, jac, f["v"] - v0, v0, grid)[0]
                else:
                    images[name] = solve(name, jac_rel, dz, np.ones_like(dz), grid)[0]
            times[name].append(time.perf_counter() - t)
        res["images"] = images
        # RE on one scaling for every method: eq. 19's max(x, 0) / max(x), which SMDR's
        # image already has (its post-process only zeroes pixels); CC is scale-free.
        res["scores"] = {
            name: (metrics.correlation_coefficient(f["truth"], x), metrics.relative_error(f["truth"], unit_scale(x)))
            for name, x in images.items()
        }
        res["truth"] = f["truth"]
        results[key] = res
    for f in frames.values():  # timed apart from the slow solvers
        dz = (f["v"] - v0) / v0
        # A figure, not a check: a few repeats in quick mode (the timing loop was 90 % of it).
        repeat = 3 if args.quick else 50
        times["smdr"].append(_median_time(lambda dz=dz: solver(dz), repeat))
        times["tikhonov"].append(_median_time(lambda dz=dz: tik @ dz, repeat))
    failures = report(results, times, grid, mesh, fine_mesh, lam, system, precompute, args.out)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


def unit_scale(x: np.ndarray) -> np.ndarray:
    """``max(x, 0) / max(x)`` (the SMDR paper's eq. 19 normalisation); zeros if x has no positive value."""
    top = float(np.max(x))
    return np.maximum(x, 0.0) / top if top > 0 else np.zeros_like(x)


# Per-case misses seen in the full run, with their reasons; another miss fails the study.
_EDGE = (
    "Tikhonov is already sharp next to the electrodes, and SMDR's post-process (eq. 20) cuts the object's "
    "lower-valued rim: 152 pixels kept for a true area of 189"
)
_TEN = (
    "at 30 dB the ring of eight merges into one band and the two central circles fall into the Artifact cluster and "
    "vanish; the paper too reports SMDR's weakness with many objects near the edge (its experimental Case 6)"
)
KNOWN_MISSES: dict[tuple[str, str, str], str] = {
    ("noise-free", "1 circle, edge", "CC above Tikhonov's"): _EDGE,
    ("noise-free", "1 circle, edge", "RE below Tikhonov's"): _EDGE,
    ("SNR 30 dB", "10 small circles", "CC above Tikhonov's"): _TEN,
}


def _median_time(fn, repeat: int = 20) -> float:
    values = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        values.append(time.perf_counter() - t)
    return statistics.median(values)


def report(results, times, grid, mesh, fine_mesh, lam, system, precompute, out: Path) -> list[str]:
    methods = ("smdr", "tikhonov", *OTHERS)
    lines = [
        "# SMDR (Sensors 2024) vs Tikhonov and the other femeit solvers: CC / RE",
        "",
        f"Data mesh {fine_mesh.n_elements} triangles; inversion mesh {mesh.n_elements} triangles, "
        f"{grid.n_params} pixels; 208 adjacent readings, relative difference data.  "
        f"lambda = {lam:.4g} ({lam / system.s[0] ** 2:.4f} s_max^2) for SMDR and Tikhonov.",
        "",
    ]
    failures = []
    for noise in NOISES:
        label = "noise-free" if noise is None else f"SNR {noise:g} dB"
        lines += [f"## {label}", "", "| phantom | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
        verdicts = []
        for name in PHANTOMS:
            scores = results[(noise, name)]["scores"]
            cells = [f"{scores[m][0]:.3f} / {scores[m][1]:.3f}" for m in methods]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            (cc_s, re_s), (cc_t, re_t) = scores["smdr"], scores["tikhonov"]
            verdicts.append((name, "CC above Tikhonov's", f"{cc_s:.3f} vs {cc_t:.3f}", cc_s > cc_t))
            verdicts.append((name, "RE below Tikhonov's", f"{re_s:.3f} vs {re_t:.3f}", re_s < re_t))
        means = [
            f"{np.mean([results[(noise, n)]['scores'][m][0] for n in PHANTOMS]):.3f} / "
            f"{np.mean([results[(noise, n)]['scores'][m][1] for n in PHANTOMS]):.3f}"
            for m in methods
        ]
        lines.append("| mean | " + " | ".join(means) + " |")
        lines += [
            "",
            "CC on the raw images, RE after scaling every image to [0, 1] by eq. 19 (max(x, 0) / max x).",
            "",
            "Checks per phantom (the paper, section 3.1 and Fig. 5: SMDR's CC is the highest and its RE the lowest "
            "against Tikhonov at every noise level; its own phantoms are lost, ours are in their spirit, so the "
            "statements are checked, not the figures):",
            "",
            "| phantom | check | SMDR vs Tikhonov | verdict |",
            "|---|---|---|---|",
        ]
        misses = []
        for name, check, text, ok in verdicts:
            lines.append(f"| {name} | {check} | {text} | {'pass' if ok else 'MISS'} |")
            if not ok:
                misses.append((name, check, text))
        lines += ["", "Misses and their reasons:", ""]
        for name, check, text in misses:
            reason = KNOWN_MISSES.get((label, name, check))
            lines.append(f"- {name}, {check}: {text}; " + (f"reason: {reason}" if reason else "UNEXPECTED"))
            if reason is None:
                failures.append(f"{label}, {name}, {check}: {text}")
        if not misses:
            lines.append("- none")
        lines.append("")
        lines += [
            "SMDR's support (pixels > 0) against the true objects (area in pixels):",
            "",
            "| phantom | true area | SMDR pixels | true area covered | false pixels (truth < 1/2) |",
            "|---|---|---|---|---|",
        ]
        for name in PHANTOMS:
            truth, kept = results[(noise, name)]["truth"], results[(noise, name)]["smdr"].x > 0
            lines.append(
                f"| {name} | {truth.sum():.0f} | {kept.sum()} | {truth[kept].sum():.0f} | "
                f"{np.count_nonzero(kept & (truth < 0.5))} |"
            )
        lines.append("")
    lines += [
        "## Time per image",
        "",
        "SMDR and Tikhonov: after the precomputation, median over the 12 frames of the median of 50 calls "
        "(3 in quick mode).",
        "Others: one registry call per frame (its SVD, Cholesky and parameter choice included), median over frames.",
        "",
        "| method | ms per image (median) | max over frames |",
        "|---|---|---|",
    ]
    for m in methods:
        lines.append(f"| {m} | {statistics.median(times[m]) * 1e3:.2f} | {max(times[m]) * 1e3:.2f} |")
    lines += ["", f"Precomputation (SVD, 6 L-curves, SMDR Gram and Tikhonov matrices): {precompute:.2f} s", ""]
    text = "\n".join(lines) + "\n"
    text += "\n" + ("\n".join(f"- FAIL: {f}" for f in failures) if failures else "No unexpected miss.") + "\n"
    print(text)
    (out / "smdr.md").write_text(text)
    plot(results, grid, out)
    return failures


def plot(results: dict, grid, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extent = grid.extent[:4]
    for noise in NOISES:
        tag = "clean" if noise is None else f"snr{noise:g}"
        columns = (
            ("truth", "truth"),
            ("tikhonov", "Tikhonov x0"),
            ("clusters", "k-means of x0"),
            ("x_a", "x_A (eq. 16)"),
            ("x_r", "x_R (eq. 17)"),
            ("x_n", "x_N (eq. 19)"),
            ("smdr", "SMDR"),
            *((m, m) for m in OTHERS),
        )
        fig, axes = plt.subplots(len(PHANTOMS), len(columns), figsize=(1.6 * len(columns), 1.7 * len(PHANTOMS)))
        for i, name in enumerate(PHANTOMS):
            res = results[(noise, name)]
            smdr = res["smdr"]
            for j, (key, title) in enumerate(columns):
                ax = axes[i, j]
                if key == "truth":
                    values, cmap, lim = res["truth"], "viridis", (0, 1)
                elif key == "clusters":
                    values, cmap, lim = 3.0 - smdr.clusters0.labels, "viridis", (0, 3)
                elif key in ("x_a", "x_r", "x_n"):
                    # x_A and x_R on one scale, so that their difference shows.
                    peak = max(np.abs(smdr.x_a).max(), np.abs(smdr.x_r).max(), 1e-30) if key != "x_n" else 1.0
                    values, cmap, lim = getattr(smdr, key) / peak, "RdBu_r", (-1, 1)
                else:
                    values = res["images"][key]
                    peak = max(np.abs(values).max(), 1e-30)
                    values, cmap, lim = values / peak, "RdBu_r", (-1, 1)
                ax.imshow(grid.to_image(values), cmap=cmap, vmin=lim[0], vmax=lim[1], extent=extent)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(title, fontsize=7)
                if j == 0:
                    ax.set_ylabel(name, fontsize=7)
                if key in res["scores"]:
                    cc, re = res["scores"][key]
                    ax.set_xlabel(f"CC {cc:.2f} RE {re:.2f}", fontsize=6)
        fig.suptitle(f"SMDR, {'noise-free' if noise is None else f'SNR {noise:g} dB'} (images scaled to their peak)")
        fig.tight_layout()
        fig.savefig(out / f"smdr_images_{tag}.png", dpi=90)
        plt.close(fig)

    fig, axes = plt.subplots(2, 2, figsize=(11, 6), constrained_layout=True)
    methods = ("smdr", "tikhonov", *OTHERS)
    x = np.arange(len(PHANTOMS))
    width = 0.8 / len(methods)
    for row, noise in enumerate(NOISES):
        for col, (metric, label) in enumerate(((0, "CC"), (1, "RE"))):
            ax = axes[row, col]
            for k, m in enumerate(methods):
                values = [results[(noise, n)]["scores"][m][metric] for n in PHANTOMS]
                ax.bar(x + (k - len(methods) / 2 + 0.5) * width, values, width, label=m)
            ax.set_xticks(x, [n.replace(", ", "\n") for n in PHANTOMS], fontsize=7)
            ax.set_title(f"{label}, {'noise-free' if noise is None else f'SNR {noise:g} dB'}", fontsize=9)
            if metric == 1:
                ax.set_ylim(0, 2)
    axes[0, 0].legend(fontsize=7, ncol=3)
    fig.savefig(out / "smdr_scores.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
