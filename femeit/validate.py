"""``femeit validate``: run the validation studies and write one report.

Each study is a script of the source checkout's ``validation/`` folder, installed
with the package as the module ``femeit.studies.<name>``, that takes ``-o DIR``
(and ``--quick`` where it has a quick mode), writes ``DIR/<study>.md`` with its
tables and PNG figures beside it, and exits non-zero when one of its checks fails.  The runner starts each in its own
Python process (a crash or a memory peak stays contained, and a study can be
re-run alone), then adds an overview made in-process: the sensors drawn and
rendered, one L-curve, and an image grid of every registry solver on two
phantoms.  Every number in ``report.md`` comes from this run.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from femeit.errors import FemeitError


@dataclasses.dataclass(frozen=True)
class Study:
    """One script of ``validation/``.

    Attributes
    ----------
    name : str
        Script stem; the study writes ``<name>.md``.
    title : str
    quick : tuple of str or None
        Arguments in ``--quick`` mode; None leaves the study out of it.
    full : tuple of str
        Arguments in ``--full`` mode.
    needs : str or None
        A module the study imports (the study is skipped, and said so, without it).
    """

    name: str
    title: str
    quick: tuple[str, ...] | None
    full: tuple[str, ...] = ()
    needs: str | None = None


STUDIES = (
    Study("forward_accuracy", "Forward model against analytic solutions", ("--quick",)),
    Study("gasulla2005", "Gasulla & Pallas-Areny 2005, Table I (one-step least squares)", ("--quick",)),
    Study("landweber_correction", "Landweber with sensitivity correction (ERT paper)", ()),
    Study("smdr", "SMDR against Tikhonov (2024 paper)", ("--quick",)),
    Study("kgpsr3d", "GPSR-BB family on the 3D cylinder (IEEE Access 2021)", ("--quick",)),
    Study("ktc2023", "KTC2023 measured tank data", ("--quick",)),
    Study("generalisation", "Every solver's automatic default on unseen random phantoms", ("--quick",)),
    Study("ert_tank3d", "3D ERT Gauss-Newton on the modeltank.shm layout (simulated readings)", ("--quick",)),
    Study("curved_geometry", "Curved (second-order) geometry against exact solutions and sizes", ("--quick",)),
    Study("cnn_eim", "CNN-EIM against Tikhonov (learned)", None, (), needs="torch"),
)


def validation_folder() -> Path | None:
    """The ``validation/`` folder of the source checkout femeit runs from, or None in an installed package."""
    folder = Path(__file__).resolve().parents[1] / "validation"
    return folder if folder.is_dir() else None


def study_command(study: Study) -> list[str] | None:
    """The command that runs ``study``: the checkout's script, else the installed ``femeit.studies`` module.

    None when neither exists.
    """
    import importlib.util

    folder = validation_folder()
    if folder is not None and (folder / f"{study.name}.py").is_file():
        return [sys.executable, str(folder / f"{study.name}.py")]
    module = f"femeit.studies.{study.name}"
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # no femeit.studies at all
        found = False
    return [sys.executable, "-m", module] if found else None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def run_study(study: Study, out: Path, mode: str, timeout: float) -> dict:
    """Run one study script in its own process; returns its status, time and outputs."""
    command = study_command(study)
    folder = out / study.name
    folder.mkdir(parents=True, exist_ok=True)
    if study.needs and not _has_module(study.needs):
        return {"status": "skipped", "seconds": 0.0, "folder": folder, "note": f"needs {study.needs}"}
    if command is None:
        note = f"neither validation/{study.name}.py nor the module femeit.studies.{study.name} was found"
        return {"status": "missing", "seconds": 0.0, "folder": folder, "note": note}
    args = study.quick if mode == "quick" else study.full
    command = [*command, *args, "-o", str(folder)]
    print(f"[validate] {study.name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    env = dict(os.environ, MPLBACKEND="Agg")
    with open(folder / "log.txt", "w") as log:
        try:
            rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = None
    seconds = time.perf_counter() - start
    status = "pass" if rc == 0 else ("timeout" if rc is None else "FAIL")
    print(f"[validate] {study.name}: {status} in {seconds:.0f} s", flush=True)
    return {"status": status, "seconds": seconds, "folder": folder, "note": "" if rc is None else f"exit {rc}"}


def _section(study: Study, result: dict, out: Path) -> list[str]:
    folder = result["folder"]
    lines = [f"## {study.title}", "", f"`femeit.studies.{study.name}` — **{result['status']}**"]
    lines[-1] += f" in {result['seconds']:.0f} s" + (f" ({result['note']})" if result["note"] else "")
    lines.append("")
    # A study writes <name>.md (its quick mode may name it <name>_quick.md).
    tables = sorted(folder.glob(f"{study.name}*.md"))
    if tables:
        text = tables[0].read_text().strip().splitlines()
        # The study's own title becomes a sub-heading under ours.
        lines += [
            ("###" + line[1:]) if line.startswith("# ") else ("#" + line if line.startswith("##") else line)
            for line in text
        ]
        lines.append("")
    elif (folder / "log.txt").exists() and result["status"] not in ("skipped", "missing"):
        tail = (folder / "log.txt").read_text().splitlines()[-40:]
        lines += ["```", *tail, "```", ""]
    for png in sorted(folder.glob("*.png")):
        lines += [f"![{png.stem}]({png.relative_to(out).as_posix()})", ""]
    return lines


def overview(out: Path) -> tuple[list[str], list[str]]:
    """Sensor pictures, an L-curve and a solver-by-phantom image grid, computed here.

    Returns the report lines and a list of failed checks (a solver whose image
    does not correlate with the phantom at all).
    """
    import femeit as fe
    from femeit import metrics
    from femeit.forward import ForwardModel
    from femeit.grids import PixelGrid
    from femeit.inverse import choose_lambda, prepare
    from femeit.inverse.registry import SOLVERS, solve
    from femeit.noise import add_noise
    from femeit.phantom import Box, Disk, Phantom
    from femeit.protocol import Protocol
    from femeit.viz import plot_lcurve, plot_mesh, render3d, subplots

    folder = out / "overview"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["## Overview: sensors, an L-curve and every solver on two phantoms", ""]
    start = time.perf_counter()
    disk = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.08, h_electrode=0.03))
    plot_mesh(disk, path=folder / "disk_mesh.png", title=f"16-electrode disk, {disk.n_elements} triangles")
    ring = fe.ElectrodeRing(z=0.05, n_electrodes=16, shape="circle", electrode_radius=0.01)
    cylinder = fe.mesh_from_spec(
        fe.CylinderSpec(
            radius=0.1, height=0.1, rings=(ring,), h=0.016, inclusions=(fe.SphereInclusion(0.04, 0.0, 0.05, 0.025),)
        )
    )
    sigma = np.where(np.asarray(cylinder.element_region) == cylinder.region_names.index("inclusion_1"), 3.0, 1.0)
    render3d(cylinder, sigma, path=folder / "cylinder_render.png", title=f"cylinder, {cylinder.n_elements} tetrahedra")
    line = fe.mesh_from_spec(
        fe.HalfspaceLineSpec(
            dim=3,
            padding=1.0,
            h_electrode=0.15,
            h_survey=0.6,
            h_far=6.0,
            h_inclusion=0.2,
            inclusions=(fe.SphereInclusion(0.0, 0.0, -1.5, 0.5),),
        )
    )
    buried = np.where(np.asarray(line.element_region) == line.region_names.index("inclusion_1"), 0.1, 1.0)
    render3d(
        line,
        buried,
        slices=(("y", 0.0),),
        bounds=(-10.0, 10.0, -4.0, 4.0, -6.0, 0.0),
        path=folder / "halfspace_render.png",
        title=f"16-electrode line over a sphere, {line.n_elements} tetrahedra",
    )
    lines += [
        "| sensor | elements | electrodes |",
        "|---|---|---|",
        f"| disk (2D) | {disk.n_elements} | {len(disk.electrodes)} |",
        f"| cylinder with a ring (3D) | {cylinder.n_elements} | {len(cylinder.electrodes)} |",
        f"| half-space line (3D) | {line.n_elements} | {len(line.electrodes)} |",
        "",
        "![disk](overview/disk_mesh.png) ![cylinder](overview/cylinder_render.png) "
        "![half-space](overview/halfspace_render.png)",
        "",
    ]

    # Data from a finer mesh than the one inverted on: no inverse crime.
    fine = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.1, h=0.03, h_electrode=0.01))
    protocol = Protocol.adjacent(16)
    phantoms = {
        "off-centre disk": Phantom(1.0, ((Disk((0.4, 0.2), 0.25), 2.0),)),
        # Both objects more conductive than the background: SMDR images one sign.
        "disk and square": Phantom(1.0, ((Disk((-0.4, 0.3), 0.2), 2.0), (Box((0.2, -0.6), (0.6, -0.2)), 2.0))),
    }
    fine_model = ForwardModel(fine, protocol, 0.01)
    model = ForwardModel(disk, protocol, 0.01)
    # Pixels at least half inside the disk: slivers on the rim have almost no
    # sensitivity, and the column-normalised solvers would blow them up.
    grid = PixelGrid(disk, shape=(32, 32), min_fraction=0.5)
    jac = model.jacobian(1.0, basis=grid.P)
    reference = fine_model.simulate(1.0)
    solvers = sorted(SOLVERS)
    fig, axes = subplots(len(phantoms), len(solvers) + 1, figsize=(1.9 * (len(solvers) + 1), 2.1 * len(phantoms)))
    table = [
        "| solver | " + " | ".join(f"CC {name}" for name in phantoms) + " | ms / image |",
        "|---|" + "---|" * (len(phantoms) + 1),
    ]
    scores = {s: [] for s in solvers}
    times = {s: [] for s in solvers}
    failures = []
    for i, (name, phantom) in enumerate(phantoms.items()):
        truth = phantom.on_grid(grid, disk) - 1.0
        data = add_noise(fine_model.simulate(phantom.on_mesh(fine)), snr_db=40.0, seed=i)
        dz = data - reference
        axes[i, 0].imshow(grid.to_image(truth), cmap="RdBu_r", vmin=-1, vmax=1)
        axes[i, 0].set_title(f"truth: {name}", fontsize=7)
        if i == 0:
            curve = choose_lambda(prepare(jac), dz)
            plot_lcurve(curve, path=folder / "lcurve.png", title=f"Tikhonov L-curve, {name}, 40 dB")
        for j, solver in enumerate(solvers):
            t = time.perf_counter()
            x, _ = solve(solver, jac, dz, reference, grid)
            times[solver].append(time.perf_counter() - t)
            cc = metrics.correlation_coefficient(truth, x)
            scores[solver].append(cc)
            image = grid.to_image(x)
            lim = np.nanpercentile(np.abs(image), 99.5) or 1.0
            axes[i, j + 1].imshow(image, cmap="RdBu_r", vmin=-lim, vmax=lim)
            axes[i, j + 1].set_title(f"{solver}\nCC {cc:.2f}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(folder / "solvers.png", dpi=90)
    for solver in solvers:
        cells = " | ".join(f"{cc:.3f}" for cc in scores[solver])
        table.append(f"| {solver} | {cells} | {1e3 * np.median(times[solver]):.1f} |")
        if min(scores[solver]) <= 0.3:
            failures.append(f"overview: {solver} correlates {min(scores[solver]):.2f} with a phantom")
    lines += [
        f"Data from a {fine.n_elements}-triangle mesh at 40 dB SNR, inverted on {disk.n_elements} triangles through a "
        f"{grid.n_params}-pixel grid (automatic parameters). Solve times exclude the Jacobian.",
        "",
        *table,
        "",
        "![solvers](overview/solvers.png) ![L-curve](overview/lcurve.png)",
        "",
        f"Overview computed in {time.perf_counter() - start:.0f} s.",
        "",
    ]
    return lines, failures


def validate(out: str | Path, mode: str = "quick", only: list[str] | None = None, timeout: float = 1800.0) -> int:
    """Run the studies and the overview; write ``out/report.md``.

    Parameters
    ----------
    out : path
        Report folder (created).
    mode : {"quick", "full"}
        Quick: every study's quick mode (studies without one are left out) —
        a few minutes on 2 cores.  Full: the published set-ups at full size.
    only : list of str, optional
        Study names to run (and ``overview``); default all.
    timeout : float
        Seconds allowed to each study.

    Returns
    -------
    int
        0 when every check passed, 1 otherwise.
    """
    if mode not in ("quick", "full"):
        raise FemeitError(f"mode must be 'quick' or 'full', got {mode!r}")
    names = {s.name for s in STUDIES} | {"overview"}
    if only:
        unknown = sorted(set(only) - names)
        if unknown:
            raise FemeitError(f"unknown studies {unknown}; choose from {sorted(names)}")
    if not timeout > 0:
        raise FemeitError(f"timeout must be a positive number of seconds, got {timeout}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FemeitError(f"the report folder {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    import femeit

    lines = [
        "# femeit validation report",
        "",
        f"femeit {femeit.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}; mode `{mode}`; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    summary = ["| study | result | seconds |", "|---|---|---|"]
    body: list[str] = []
    failures: list[str] = []
    if not only or "overview" in only:
        t = time.perf_counter()
        try:
            section, failed = overview(out)
        except FemeitError as err:  # e.g. matplotlib or pyvista missing
            section, failed = ["## Overview", "", f"not drawn: {err}", ""], [f"overview: {err}"]
        failures += failed
        body += section
        summary.append(f"| overview | {'FAIL' if failed else 'pass'} | {time.perf_counter() - t:.0f} |")
    for study in STUDIES:
        if only and study.name not in only:
            continue
        if mode == "quick" and study.quick is None:
            summary.append(f"| {study.name} | not in quick mode | 0 |")
            continue
        result = run_study(study, out, mode, timeout)
        summary.append(f"| {study.name} | {result['status']} | {result['seconds']:.0f} |")
        if result["status"] in ("FAIL", "timeout", "missing"):
            failures.append(f"{study.name}: {result['status']} {result['note']}")
        body += _section(study, result, out)
    lines += [*summary, "", f"Total {time.perf_counter() - start:.0f} s.", ""]
    if failures:
        lines += ["Failed checks:", "", *[f"- {f}" for f in failures], ""]
    (out / "report.md").write_text("\n".join(lines + body) + "\n")
    print(f"[validate] report: {out / 'report.md'} ({len(failures)} failed)", flush=True)
    return 1 if failures else 0
