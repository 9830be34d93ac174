"""The ``femeit`` command line: parses arguments and calls the public API, nothing more."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from femeit import cli_args
from femeit.errors import FemeitError
from femeit.protocol import ALL_PROTOCOL_NAMES


def _load_mesh(args: argparse.Namespace):
    from femeit.geometry import load_spec, mesh_from_spec
    from femeit.mesh import read_mesh

    if getattr(args, "force", False):
        from femeit.limits import allow_large

        allow_large()
    path = Path(args.spec)
    if path.suffix in (".msh", ".geo"):
        if args.h is not None or args.h_electrode is not None:
            raise FemeitError("--h and --h-electrode apply to TOML specs, not to .msh/.geo files")
        return read_mesh(path)
    spec = load_spec(path)
    overrides = {}
    for option, value in (("h", args.h), ("h_electrode", args.h_electrode)):
        if value is None:
            continue
        if option == "h" and spec.kind == "halfspace_line":
            option = "h_survey"
        if option not in {f.name for f in dataclasses.fields(spec)}:
            raise FemeitError(f"--{option.replace('_', '-')} does not apply to a {spec.kind} spec")
        overrides[option] = value
    if overrides:
        spec = dataclasses.replace(spec, **overrides)
    return mesh_from_spec(spec, cache=not args.no_cache)


def _cmd_mesh(args: argparse.Namespace) -> int:
    from femeit.outputs import output_file

    if args.output:
        output_file(args.output, "mesh", overwrite=args.overwrite)
    mesh = _load_mesh(args)
    print(mesh.summary())
    if args.output:
        from femeit.mesh import write_mesh

        written = write_mesh(mesh, args.output)
        print(f"written: {written}")
    return 0


def _protocol(args: argparse.Namespace, n_electrodes: int, rings=None):
    from femeit.protocol import Protocol

    if args.abmn and args.protocol is not None:
        raise FemeitError(f"--protocol {args.protocol} and --abmn {args.abmn} both give the protocol; use one")
    if args.abmn:
        return Protocol.from_file(args.abmn, n_electrodes, args.current)
    return Protocol.by_name(args.protocol or "adjacent", n_electrodes, current=args.current, rings=rings)


def _conductivity(args: argparse.Namespace, mesh) -> dict[str, float]:
    values = {name: args.sigma for name in mesh.region_names}
    for item in args.region or []:
        name, _, value = item.partition("=")
        if name not in values or not value:
            raise FemeitError(f"--region takes NAME=VALUE with NAME one of {list(mesh.region_names)}, got {item!r}")
        try:
            values[name] = float(value)
        except ValueError:
            raise FemeitError(f"--region {item!r}: {value!r} is not a number") from None
    return values


def _model(args: argparse.Namespace):
    from femeit.forward import ForwardModel

    _check_outputs(args)
    mesh = _load_mesh(args)
    # Ring sizes of the spec, for the multi-ring protocols (electrodes are numbered ring by ring).
    rings = [r.n_electrodes for r in getattr(mesh.spec, "rings", ())] or None
    protocol = _protocol(args, mesh.n_electrodes, rings)
    model = ForwardModel(mesh, protocol, args.z, order=args.order, electrode_model=args.electrode_model)
    return model, _conductivity(args, mesh)


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse a bad output path before any work (folders, existing files, unwritable places)."""
    from femeit.outputs import output_file

    if not getattr(args, "output", None):
        return
    if args.command == "reconstruct":
        out = Path(args.output).with_suffix(".npz")
        for path in (out, out.with_suffix(".png")):
            output_file(path, "reconstruction", overwrite=args.overwrite)
    else:
        output_file(args.output, args.command, overwrite=args.overwrite, suffixes=(".npz", ".csv"))


def _save(path: str, **arrays) -> None:
    import numpy as np

    out = Path(path)
    if out.suffix == ".csv":
        # A CSV holds one array: the readings, or the Jacobian.
        value = arrays["voltages"] if "jacobian" not in arrays else arrays["jacobian"]
        np.savetxt(out, np.atleast_2d(value).T if value.ndim == 1 else value, delimiter=",")
    elif out.suffix == ".npz":
        np.savez_compressed(out, **arrays)
    else:
        raise FemeitError(f"output must end in .npz or .csv, got {out.name}")
    print(f"written: {out}")


def _cmd_forward(args: argparse.Namespace) -> int:
    import time

    model, sigma = _model(args)
    start = time.perf_counter()
    solution = model.solve(sigma)
    print(
        f"{model.protocol.n_rows} readings in {time.perf_counter() - start:.3f} s "
        f"(range {solution.voltages.min():.6g} .. {solution.voltages.max():.6g} V)"
    )
    if args.output:
        abmn = model.protocol.abmn
        _save(
            args.output,
            voltages=solution.voltages,
            electrode_potentials=solution.electrode_potentials,
            **({"abmn": abmn} if abmn is not None else {}),
        )
    return 0


def _cmd_jacobian(args: argparse.Namespace) -> int:
    import time

    model, sigma = _model(args)
    start = time.perf_counter()
    jac = model.jacobian(sigma, log_conductivity=args.log)
    print(f"Jacobian {jac.shape[0]} x {jac.shape[1]} in {time.perf_counter() - start:.3f} s")
    if args.output:
        _save(args.output, jacobian=jac, voltages=model.simulate(sigma))
    return 0


def _read_voltages(path: str, n_rows: int, what: str):
    import numpy as np

    p = Path(path)
    try:
        values = np.load(p)["voltages"] if p.suffix == ".npz" else np.loadtxt(p, delimiter=",", ndmin=1)
    except (OSError, KeyError, ValueError) as exc:
        raise FemeitError(f"cannot read {what} from {p}: {exc}") from None
    values = np.asarray(values, dtype=float).ravel()
    if values.shape != (n_rows,):
        raise FemeitError(f"{what} in {p} has {values.size} values; the protocol has {n_rows} rows")
    if not np.all(np.isfinite(values)):
        raise FemeitError(f"{what} in {p} contains NaN or infinite values")
    return values


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    import numpy as np

    from femeit.grids import ElementGrid, PixelGrid, SliceGrid
    from femeit.inverse.base import build, solver_class
    from femeit.noise import add_noise

    if args.solver in KTC_SOLVERS:
        return _reconstruct_ktc(args)
    model, sigma = _model(args)
    mesh, n_rows = model.mesh, model.protocol.n_rows
    background = {name: args.sigma for name in mesh.region_names}
    if args.data:
        if not args.reference:
            raise FemeitError("--data needs --reference (difference imaging)")
        data = _read_voltages(args.data, n_rows, "data")
        reference = _read_voltages(args.reference, n_rows, "reference data")
    else:
        if sigma == background:
            raise FemeitError("give --data and --reference, or simulate an inclusion with --region NAME=VALUE")
        reference, data = model.simulate(background), model.simulate(sigma)
        if args.snr is not None:
            data = add_noise(data, snr_db=args.snr, seed=args.seed)
    if args.solver in LEARNED_SOLVERS or args.model:
        return _reconstruct_learned(args, model.protocol, data, reference)
    params = _solver_parameters(args)
    solver_class(args.solver)  # an unknown name fails here, before the Jacobian is computed

    from femeit.limits import check_bytes

    n_params = mesh.n_elements if args.grid == "element" else args.shape[0] * args.shape[1]
    check_bytes(8.0 * n_rows * n_params, f"the {n_rows} x {n_params} Jacobian")
    # The grid keeps a few arrays per pixel (centres, weights, masks).
    check_bytes(64.0 * n_params, f"the pixel grid of --shape {args.shape[0]} {args.shape[1]}")
    if args.grid == "element":
        grid = ElementGrid(mesh)
    elif mesh.dim == 2:
        grid = PixelGrid(mesh, shape=tuple(args.shape))
    else:
        lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
        grid = SliceGrid(
            mesh,
            z=args.z_slice if args.z_slice is not None else (lo[2] + hi[2]) / 2,
            thickness=(hi[2] - lo[2]) / 10,
            shape=tuple(args.shape),
        )
    jac = model.jacobian(args.sigma, basis=grid.P)
    rec = build(args.solver, jac, grid=grid, reference=reference, **params)(data - reference)
    x = rec.x
    shown = {k: v for k, v in rec.params.items() if isinstance(v, int | float | str | np.floating | np.integer)}
    print(f"{args.solver} on {grid.n_params} parameters: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in shown.items()))
    if args.output:
        out = Path(args.output).with_suffix(".npz")
        arrays = {"x": x, "centres": grid.centres, "voltages": data, "reference": reference}
        if grid.image_shape is not None:
            arrays["image"] = grid.to_image(x)
        np.savez_compressed(out, **arrays)
        print(f"written: {out}")
        if grid.image_shape is not None:
            image = grid.to_image(x).reshape(grid.image_shape[-2:])
            _save_image_png(
                out.with_suffix(".png"),
                image,
                f"{args.solver}: conductivity change",
                extent=grid.extent[:4],
                symmetric=True,
                label="conductivity change (S/m)",
                dpi=args.dpi,
            )
    return 0


def _fmt(value) -> str:
    return value if isinstance(value, str) else f"{value:.4g}"


def _solver_parameters(args: argparse.Namespace) -> dict:
    """--lam and --rank as registry parameters; a solver without them refuses them (FemeitError)."""
    from femeit.inverse.base import solver_class

    params = {}
    if args.lam not in (None, "auto"):
        try:
            params["lam"] = float(args.lam)
        except ValueError:
            raise FemeitError(f"--lam must be a number or 'auto', got {args.lam!r}") from None
    if args.rank is not None:
        params["k" if args.solver == "kgpsr" else "rank"] = args.rank
    takes = solver_class(args.solver).PARAMS
    for option, key in (("--lam", "lam"), ("--rank", "k" if args.solver == "kgpsr" else "rank")):
        if key in params and key not in takes:
            raise FemeitError(f"{option} has no meaning for {args.solver} (it takes {', '.join(sorted(takes))})")
    return params


LEARNED_SOLVERS = ("cnn-eim", "cnn-reim", "fcnn-eiv")  # femeit.inverse.base.LEARNED
KTC_SOLVERS = ("ktc-unet",)  # femeit.learn.ktc_pipeline: KTC2023 .mat files in, a 256 x 256 segmentation out


def _reconstruct_ktc(args: argparse.Namespace) -> int:
    """The learned KTC2023 pipeline on a challenge file pair (``--data dataK.mat --reference ref.mat``)."""
    import numpy as np

    from femeit import ktc2023 as ktc
    from femeit.learn.ktc_pipeline import LearnedKTC

    if not (args.data and args.reference):
        raise FemeitError(f"--solver {args.solver} needs --data dataK.mat and --reference ref.mat (KTC2023 files)")
    _check_outputs(args)
    target, reference = ktc.read_measurement(args.data), ktc.read_measurement(args.reference)
    mask = target.mask & reference.mask
    levels = [lv for lv in ktc.LEVELS if np.array_equal(ktc.usable_rows(target.protocol, lv), mask)]
    if not levels:
        raise FemeitError(f"{args.data}: its usable rows match none of the levels 1..7 (missing electrodes)")
    # The calibration needs every row: the given reference if complete, else the packaged level-1 one.
    complete = reference if reference.mask.all() else ktc.load_level(1).reference
    pipeline = LearnedKTC.from_reference(complete, weights=args.model)
    labels = pipeline.segment_target(target, ktc.Level(levels[0], reference, {1: target}, mask))
    counts = np.bincount(labels.ravel(), minlength=3)
    print(f"{args.solver}, level {levels[0]}: water {counts[0]}, resistive {counts[1]}, conductive {counts[2]} pixels")
    if args.output:
        out = Path(args.output).with_suffix(".npz")
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, labels=labels, level=levels[0])
        print(f"written: {out}")
        title = f"{args.solver}: segmentation"
        _save_image_png(out.with_suffix(".png"), labels.astype(float), title, label="class", dpi=args.dpi)
    return 0


def _reconstruct_learned(args: argparse.Namespace, protocol, data, reference) -> int:
    """A trained network (``femeit learn train``) as the solver."""
    import json

    import numpy as np

    from femeit.inverse.base import build

    if not args.model:
        raise FemeitError(f"--solver {args.solver} needs --model RUN (a directory written by `femeit learn train`)")
    name = args.solver
    if name not in LEARNED_SOLVERS:
        try:
            name = json.loads((Path(args.model) / "run.json").read_text())["network"]
        except (OSError, ValueError, KeyError):
            raise FemeitError(f"{args.model} is not a finished training run (run.json missing or unreadable)") from None
    rec = build(name, model=args.model, protocol=protocol, reference=reference)(data - reference)
    image = rec.x.reshape(rec.params["shape"])
    if image.ndim == 3:
        print(f"{name}: a voxel volume of {image.shape[0]} layers of {image.shape[1]} x {image.shape[2]}, S/m")
    else:
        print(f"{name}: a {image.shape[0]} x {image.shape[1]} conductivity image, S/m")
    if args.output:
        out = Path(args.output).with_suffix(".npz")
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, image=image, voltages=data, reference=reference)
        print(f"written: {out}")
        layer = image.shape[0] // 2 if image.ndim == 3 else None
        shown = image if layer is None else image[layer]
        title = f"{name}: conductivity" + ("" if layer is None else f" (layer {layer} of {image.shape[0]})")
        _save_image_png(out.with_suffix(".png"), shown, title, label="conductivity (S/m)", dpi=args.dpi)
    return 0


def _save_image_png(path: Path, image, title: str, **kw) -> None:
    """One image as a PNG through :func:`femeit.viz.plot_image`; says so when matplotlib is missing."""
    from femeit.viz import plot_image

    try:
        plot_image(image, path=path, title=title, **kw)
    except FemeitError as err:
        print(f"{err}: no PNG written")
        return
    print(f"written: {path}")


def _cmd_learn_train(args: argparse.Namespace) -> int:
    from femeit.learn import TrainConfig, evaluate, train

    if args.network in KTC_SOLVERS:
        from femeit.learn.ktc_training import KTCTrainConfig
        from femeit.learn.ktc_training import train as train_ktc

        history = train_ktc(
            args.dataset,
            args.output,
            KTCTrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device),
            progress=not args.quiet,
        )
        print(
            f"{args.network}: {len(history['epoch'])} epochs in {sum(history['seconds']):.0f} s; cross-entropy "
            f"train {history['train_loss'][-1]:.4f}, validation {history['validation_loss'][-1]:.4f}"
        )
        return 0
    if args.device != "cpu":
        raise FemeitError(f"--device {args.device}: only ktc-unet trains on a GPU; {args.network} trains on the CPU")
    config = TrainConfig(
        network=args.network, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, target=args.target
    )
    history = train(args.dataset, args.output, config, progress=not args.quiet)
    scores = evaluate(args.output, args.dataset)
    print(
        f"{args.network}: {len(history['epoch'])} epochs in {sum(history['seconds']):.0f} s; per-pixel MSE "
        + ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
    )
    return 0


def _cmd_learn_eval(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from femeit import datasets
    from femeit.learn import Reconstructor, evaluate

    scores = evaluate(args.run, args.dataset)
    out = Path(args.output or args.run)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(scores, indent=1))
    print("per-pixel MSE: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))
    rec = Reconstructor(args.run)
    ds = datasets.open(args.dataset)
    from femeit.protocol import Protocol

    protocol = Protocol.from_abmn(ds.abmn, int(ds.abmn.max()) + 1)
    target = ds.group[rec.sizes["target"]]
    for split in ("test", "heldout"):
        idx = ds.indices(split)[: args.examples]
        if len(idx) == 0:
            continue
        truth = target.get_orthogonal_selection((idx, *[slice(None)] * (target.ndim - 1)))
        images = rec(ds.voltages.get_orthogonal_selection((idx, slice(None))), ds.reference, protocol)
        if images.ndim == 4:  # voxel volumes: show the middle layer
            truth, images = truth[:, truth.shape[1] // 2], images[:, images.shape[1] // 2]
        _save_examples(out / f"examples_{split}.png", truth, images, f"{rec.meta['network']}, {split} split")
    print(f"written: {out / 'metrics.json'} and example PNGs")
    return 0 if all(np.isfinite(v) for v in scores.values()) else 1


def _save_examples(path: Path, truth, images, title: str) -> None:
    """Truths above reconstructions through :func:`femeit.viz.plot_image_grid`."""
    from femeit.viz import plot_image_grid

    try:
        plot_image_grid(
            [list(truth), list(images)],
            path=path,
            title=f"{title}: truth (top), network (bottom)",
            label="conductivity (S/m)",
        )
    except FemeitError as err:
        print(f"{err}: no example PNG written")


def _add_learn_parser(sub) -> None:
    learn = sub.add_parser("learn", help="train and evaluate CNN-EIM and its baselines (needs femeit[learn])")
    lsub = learn.add_subparsers(dest="learn_command", required=True)
    tr = lsub.add_parser("train", help="train a network on a dataset's train split (resumes from a checkpoint)")
    tr.add_argument(
        "dataset",
        help="a dataset from `femeit dataset generate`: any electrode count and image size (the network is sized "
        "from it); the CNNs need the adjacent protocol, fcnn-eiv takes any",
    )
    tr.add_argument("-o", "--output", required=True, help="run directory")
    tr.add_argument("--network", default="cnn-eim", choices=LEARNED_SOLVERS + KTC_SOLVERS)
    tr.add_argument("--epochs", type=int, default=20, help="training epochs (the paper: 200)")
    tr.add_argument("--batch-size", type=int, default=128)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda", "auto"),
        help="ktc-unet: train on a CUDA GPU (auto: when torch sees one); the other networks train on the CPU",
    )
    tr.add_argument(
        "--target",
        default="auto",
        choices=("auto", "images", "volumes"),
        help="what the network outputs: the dataset's images or its voxel volumes (auto: volumes when stored)",
    )
    tr.add_argument("--quiet", action="store_true")
    tr.set_defaults(func=_cmd_learn_train)
    ev = lsub.add_parser("eval", help="MSE per split and example reconstructions as PNG")
    ev.add_argument("run", help="run directory from `femeit learn train`")
    ev.add_argument("dataset")
    ev.add_argument("-o", "--output", help="where to write metrics.json and PNGs (default: the run directory)")
    ev.add_argument("--examples", type=int, default=6, help="examples per split in the PNGs")
    ev.set_defaults(func=_cmd_learn_eval)


def _cmd_dataset_generate(args: argparse.Namespace) -> int:
    from femeit import datasets

    config = datasets.load_config(args.config)
    if args.force:
        from femeit.limits import allow_large

        allow_large()
    try:
        report = datasets.generate(
            config,
            args.output,
            args.n,
            workers=args.workers,
            chunk_size=args.chunk_size,
            scheduler=args.scheduler,
            progress=not args.quiet,
            overwrite=args.overwrite,
            repair=args.repair,
        )
    except KeyboardInterrupt as exc:
        # 128 + the signal number, as a shell reports it (130 SIGINT, 143 SIGTERM).
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 2
        return 128 + signum
    print(
        f"{report.path}: {report.n_samples} samples ({report.computed} computed now, {report.skipped} already "
        f"stored) in {report.seconds:.1f} s, {report.rate:.0f} samples/s"
    )
    return 0


def _cmd_dataset_verify(args: argparse.Namespace) -> int:
    from femeit import datasets

    report = datasets.verify(args.store, n_check=args.samples, seed=args.seed)
    print(f"{args.store}: {report.n_samples} samples; recomputed {len(report.checked)}: {report.checked}")
    for problem in report.problems:
        print(f"  problem: {problem}")
    print(f"checked {report.checked_chunks} chunks against their checksums")
    if report.damaged:
        shown = ", ".join(str(i) for i in report.damaged[:20]) + (", ..." if len(report.damaged) > 20 else "")
        print(f"  damaged samples ({len(report.damaged)}): {shown}; mend them with `femeit dataset generate --repair`")
    print("OK: complete, checksums match, and recomputed samples match" if report.ok else "FAILED")
    return 0 if report.ok else 1


def _add_dataset_parser(sub) -> None:
    dataset = sub.add_parser("dataset", help="generate and verify synthetic datasets (zarr)")
    dsub = dataset.add_subparsers(dest="dataset_command", required=True)
    gen = dsub.add_parser("generate", help="simulate a dataset from a TOML config (resumes an interrupted run)")
    gen.add_argument("config", help="dataset config (TOML), e.g. datasets/cnn_eim.toml")
    gen.add_argument("-o", "--output", required=True, help="zarr directory to create or resume")
    gen.add_argument(
        "--n", type=cli_args.positive_int, default=None, help="number of samples (default: fixed by the config)"
    )
    gen.add_argument(
        "--workers", type=cli_args.positive_int, default=None, help="local worker processes (default: all cores)"
    )
    gen.add_argument(
        "--chunk-size", type=cli_args.positive_int, default=128, help="samples per chunk (storage and work unit)"
    )
    gen.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a femeit dataset made with another configuration (never any other folder)",
    )
    gen.add_argument(
        "--repair", action="store_true", help="check every chunk's checksums and recompute the damaged samples"
    )
    gen.add_argument("--force", action="store_true", help="lift the size limits (mesh elements, image memory)")
    gen.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.1:8786")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_cmd_dataset_generate)
    ver = dsub.add_parser("verify", help="check completeness and recompute samples")
    ver.add_argument("store", help="zarr directory")
    ver.add_argument(
        "--samples",
        type=cli_args.non_negative_int,
        default=8,
        help="random samples to recompute (plus first and last)",
    )
    ver.add_argument("--seed", type=int, default=0, help="seed of the choice of samples")
    ver.set_defaults(func=_cmd_dataset_verify)


def _cmd_validate(args: argparse.Namespace) -> int:
    from femeit.validate import validate

    return validate(args.output, mode="full" if args.full else "quick", only=args.only, timeout=args.timeout)


def _add_validate_parser(sub) -> None:
    val = sub.add_parser(
        "validate",
        help="run the validation studies (analytic solutions, published tables) and write a report with figures",
    )
    mode = val.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick modes of the studies (default; minutes)")
    mode.add_argument("--full", action="store_true", help="the published set-ups at full size (hours on 2 cores)")
    val.add_argument("-o", "--output", default="validation-report", help="report folder (default validation-report)")
    val.add_argument("--only", nargs="+", metavar="STUDY", help="run only these studies (names in femeit.studies)")
    val.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed to each study")
    val.set_defaults(func=_cmd_validate)


def _cmd_convergence(args: argparse.Namespace) -> int:
    from femeit.convergence import convergence_study, save_study
    from femeit.geometry import load_spec
    from femeit.outputs import output_file

    out = None
    if args.output:
        out = Path(args.output).with_suffix("")
        for suffix in (".txt", ".png"):
            output_file(out.with_suffix(suffix), "convergence study", overwrite=args.overwrite)
    spec = load_spec(args.spec)
    sigma = {"domain": args.sigma}
    for item in args.region or []:
        name, _, value = item.partition("=")
        try:
            sigma[name] = float(value)
        except ValueError:
            raise FemeitError(f"--region takes NAME=VALUE with a number, got {item!r}") from None
    study = convergence_study(
        spec,
        orders=args.orders,
        levels=args.levels,
        refinement=args.refinement,
        sigma=sigma,
        contact_impedance=args.z,
        reference=args.reference,
        cache=not args.no_cache,
    )
    print(study.table())
    if out is not None:
        for path in save_study(study, out, dpi=args.dpi):
            print(f"written: {path}")
    return 0


def _add_convergence_parser(sub) -> None:
    conv = sub.add_parser(
        "convergence",
        help="mesh-refinement study of the forward model against the analytic solution or a finer mesh",
    )
    conv.add_argument("spec", help="a TOML spec (see geometries/); its mesh sizes are the coarsest level")
    conv.add_argument("--orders", type=int, nargs="+", choices=(1, 2), default=[1, 2], help="element orders")
    conv.add_argument("--levels", type=cli_args.positive_int, default=3, help="number of meshes (>= 2, default 3)")
    conv.add_argument(
        "--refinement", type=cli_args.positive_float, default=2.0, help="mesh sizes divided by this per level"
    )
    conv.add_argument(
        "--reference",
        choices=("auto", "analytic", "finer"),
        default="auto",
        help="auto: analytic where the spec has one (disk CEM, ball, layered ball, half-space), else a finer mesh",
    )
    conv.add_argument("--sigma", type=cli_args.positive_float, default=1.0, help="background conductivity, S/m")
    conv.add_argument("--region", action="append", metavar="NAME=VALUE", help="conductivity of a region, S/m")
    conv.add_argument("--z", type=cli_args.positive_float, default=0.01, help="contact impedance (CEM)")
    conv.add_argument("--no-cache", action="store_true", help="always mesh with gmsh")
    conv.add_argument("-o", "--output", help="write OUTPUT.txt (the table) and OUTPUT.png (the plot)")
    conv.add_argument("--overwrite", action="store_true", help="replace existing output files")
    conv.add_argument("--dpi", type=cli_args.positive_int, help="resolution of the PNG (default 200)")
    conv.set_defaults(func=_cmd_convergence)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    _add_mesh_arguments(parser)
    parser.add_argument(
        "--protocol",
        choices=ALL_PROTOCOL_NAMES,
        default=None,
        help="measurement protocol (default adjacent); in_ring, planar, cross_ring and zigzag use the spec's rings",
    )
    parser.add_argument(
        "--abmn",
        help="instead of --protocol: a CSV of A,B,M,N rows (0-based electrodes), or an NPZ of pattern matrices "
        "(see Protocol.from_file)",
    )
    parser.add_argument("--current", type=cli_args.finite_float, default=1.0, help="injected current, A (default 1)")
    parser.add_argument(
        "--sigma", type=cli_args.positive_float, default=1.0, help="background conductivity, S/m (default 1)"
    )
    parser.add_argument(
        "--region",
        action="append",
        metavar="NAME=VALUE",
        help="conductivity of a mesh region, S/m (repeatable), e.g. inclusion_1=3.0",
    )
    parser.add_argument(
        "--z", type=cli_args.positive_float, default=0.01, help="contact impedance, ohm m^2 (3D) or ohm m (2D)"
    )
    parser.add_argument("--order", type=int, choices=(1, 2), default=1, help="element order")
    parser.add_argument("--electrode-model", choices=("cem", "point", "shunt"), default="cem")
    parser.add_argument("-o", "--output", help="write results to .npz (all arrays) or .csv (voltages)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _add_mesh_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="a TOML spec (see geometries/), or a gmsh .geo/.msh file")
    parser.add_argument("--h", type=float, help="bulk element size, m (overrides the spec)")
    parser.add_argument("--h-electrode", type=float, help="element size at the electrodes, m (overrides the spec)")
    parser.add_argument("--no-cache", action="store_true", help="always mesh with gmsh, do not use the mesh cache")
    parser.add_argument(
        "--force", action="store_true", help="mesh even when the element-count estimate is above the limit"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``femeit`` command."""
    parser = argparse.ArgumentParser(prog="femeit", description="Finite-element EIT/ERT modelling.")
    sub = parser.add_subparsers(dest="command", required=True)
    mesh = sub.add_parser("mesh", help="mesh a geometry spec (TOML) or read a .geo/.msh, print a summary")
    _add_mesh_arguments(mesh)
    mesh.add_argument("-o", "--output", help="write the mesh (.msh through gmsh; .vtu, .xdmf... through meshio)")
    mesh.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    mesh.set_defaults(func=_cmd_mesh)
    forward = sub.add_parser("forward", help="simulate the readings of a protocol")
    _add_model_arguments(forward)
    forward.set_defaults(func=_cmd_forward)
    jacobian = sub.add_parser("jacobian", help="compute the Jacobian d readings / d element conductivity")
    _add_model_arguments(jacobian)
    jacobian.add_argument("--log", action="store_true", help="with respect to log-conductivity")
    jacobian.set_defaults(func=_cmd_jacobian)
    recon = sub.add_parser(
        "reconstruct",
        help="difference image from data and reference data, or from data simulated with --region "
        "on the same mesh (a demonstration only: that is the inverse crime)",
    )
    _add_model_arguments(recon)
    recon.add_argument("--data", help="measured voltages (.npz with 'voltages', or .csv)")
    recon.add_argument("--reference", help="reference (homogeneous) voltages, same format")
    recon.add_argument(
        "--solver",
        default="tikhonov",
        help="a name of femeit.inverse.base.REGISTRY (tikhonov, occam, tsvd, landweber, smdr, gpsr, ...) "
        "or a learned solver "
        "(cnn-eim, cnn-reim, fcnn-eiv) with --model, or ktc-unet (KTC2023 --data dataK.mat --reference ref.mat: "
        "the learned tank pipeline, shipped weights unless --model)",
    )
    recon.add_argument("--model", help="run directory of a trained network (femeit learn train)")
    recon.add_argument(
        "--grid",
        choices=("pixel", "element"),
        default="pixel",
        help="pixels (2D) or a mid-height slice (3D), or one parameter per element",
    )
    recon.add_argument("--shape", type=cli_args.positive_int, nargs=2, default=(32, 32), metavar=("NX", "NY"))
    recon.add_argument("--z-slice", type=cli_args.finite_float, help="height of the slice in 3D (default mid-height)")
    recon.add_argument(
        "--lam",
        type=cli_args.lam,
        default="auto",
        help="regularisation parameter lambda, or 'auto' (safeguarded L-curve; see femeit.inverse.parameter)",
    )
    recon.add_argument(
        "--rank",
        type=cli_args.positive_int,
        help="TSVD / TGPSR-BB rank, KGPSR-BB Krylov dimension (default automatic)",
    )
    recon.add_argument("--snr", type=cli_args.finite_float, help="noise added to simulated data, dB")
    recon.add_argument("--seed", type=cli_args.non_negative_int, default=0, help="seed of the simulated noise")
    recon.add_argument("--dpi", type=cli_args.positive_int, help="resolution of the PNG (default 200)")
    recon.set_defaults(func=_cmd_reconstruct)
    _add_convergence_parser(sub)
    _add_dataset_parser(sub)
    _add_learn_parser(sub)
    _add_validate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``femeit`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a bad argument (2, message already printed)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except FemeitError as exc:
        print(f"femeit: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file the user named cannot be read or written (permissions, a full
        # or read-only disk): say which, without a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        print(f"femeit: error: cannot read or write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def run() -> None:
    """Console entry point: ``main()``, then exit with its status.

    After an interrupted ``dataset generate`` (status 130 or 143) the process
    ends with ``os._exit`` once its output is flushed: every finished chunk is
    already on disk and the store's lock released, and the interpreter's exit
    handlers would otherwise join the worker pool's feeder and manager threads,
    which can wait forever on queues whose worker processes were terminated.
    """
    status = main()
    if status in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
