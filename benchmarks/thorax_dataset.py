"""The any-sensor acceptance run: a 500-sample 3D thorax-tank dataset, end to end from the CLI.

``datasets/thorax_tank.toml`` (extruded ellipse, two rings of 16 electrodes, the
cross-ring protocol, voxel targets) is generated in three runs that are each
killed (SIGKILL) part-way and resumed with another worker count (4, then 2,
then 1 to the end), so the store mixes chunks made by 1, 2 and 4 workers.
Then ``femeit dataset verify`` recomputes samples in one process and compares
them with the stored ones (checksums of every chunk too), the store is opened
with xarray, and ``femeit learn train`` fits FCNN-EIV to the voxel volumes for
a few epochs.  Every step's wall time and outcome is printed.

Usage::

    python benchmarks/thorax_dataset.py -o /tmp/thorax   # about 10-20 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This folder holds sparse.py, which would shadow the pydata 'sparse' package that
# Dask (under xarray) imports: take the script's own folder off the path.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
CONFIG = ROOT / "datasets" / "thorax_tank.toml"


def _femeit(*args: str) -> list[str]:
    return [sys.executable, "-m", "femeit", *args]


def _stored(store: Path) -> int:
    import zarr

    try:
        group = zarr.open_group(str(store), mode="r")
        return int(group["progress"][:].sum()) * int(group.attrs["chunk_size"])
    except Exception:  # not laid out yet
        return 0


def _run_until(store: Path, workers: int, kill_at: int | None, chunk: int) -> dict:
    """Generate with ``workers``; SIGKILL the run once ``kill_at`` samples are stored (None: run to the end)."""
    cmd = _femeit("dataset", "generate", str(CONFIG), "-o", str(store), "--workers", str(workers))
    cmd += ["--chunk-size", str(chunk), "--quiet"]
    start = time.perf_counter()
    before = _stored(store)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    while proc.poll() is None:
        if kill_at is not None and _stored(store) >= kill_at:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.5)
    _, err = proc.communicate()
    if not killed and proc.returncode != 0:
        raise SystemExit(f"generate failed ({proc.returncode}): {err}")
    return {
        "workers": workers,
        "killed": killed,
        "stored_before": before,
        "stored_after": _stored(store),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="a new folder for the store and the run")
    parser.add_argument("--chunk-size", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    store, run = args.output / "thorax.zarr", args.output / "fcnn"
    report: dict = {"config": str(CONFIG.relative_to(ROOT)), "cpus": os.cpu_count(), "load": os.getloadavg()}
    if _stored(store) == 500:  # a finished store from an earlier call: only the checks below
        report["runs"] = [{"stored_before": 500, "stored_after": 500, "note": "store already complete"}]
    else:
        report["runs"] = [
            _run_until(store, 4, 150, args.chunk_size),
            _run_until(store, 2, 320, args.chunk_size),
            _run_until(store, 1, None, args.chunk_size),
        ]
    for step in report["runs"]:
        print(f"generate: {step}", flush=True)

    start = time.perf_counter()
    verify = subprocess.run(
        _femeit("dataset", "verify", str(store), "--samples", "12"), capture_output=True, text=True, check=False
    )
    report["verify"] = {"returncode": verify.returncode, "seconds": round(time.perf_counter() - start, 1)}
    print(verify.stdout, verify.stderr, flush=True)

    import xarray as xr

    data = xr.open_zarr(store)
    report["xarray"] = {name: list(map(str, data[name].dims)) for name in ("voltages", "volumes", "sigma")}
    print(f"xarray: {report['xarray']}", flush=True)

    start = time.perf_counter()
    train = subprocess.run(
        [
            *_femeit("learn", "train", str(store), "-o", str(run), "--network", "fcnn-eiv"),
            *("--epochs", str(args.epochs), "--batch-size", "32", "--quiet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    meta = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    report["learn"] = {
        "returncode": train.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "sizes": meta.get("sizes"),
        "loss": meta.get("history", {}).get("loss"),
        "mse_test": meta.get("history", {}).get("mse_test"),
        "output": train.stdout.strip(),
    }
    print(f"learn: {report['learn']}", flush=True)
    (args.output / "report.json").write_text(json.dumps(report, indent=1))
    ok = verify.returncode == 0 and train.returncode == 0 and report["runs"][-1]["stored_after"] == 500
    print(f"{'OK' if ok else 'FAILED'}: report in {args.output / 'report.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
