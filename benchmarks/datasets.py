"""Dataset generation speed: the CNN-EIM set-up locally and on Dask, and a 3D demonstration.

Run:  python benchmarks/datasets.py [--n 3000] [--full] [--3d] [-o DIR]

* CNN-EIM (datasets/cnn_eim.toml: 2 m disk, 16 electrodes, about 4.6k-triangle
  forward mesh, 64 x 64 images): ``--n`` samples with local workers (all cores),
  samples/s, and the projected time of the full 29,511 (``--full`` generates
  them all).  Target: at least 100 samples/s on a 2-core machine.
* The same on a Dask LocalCluster with 1 and 2 worker processes (scaling).
* ``--3d``: the 1,000-sample cylinder set (datasets/cylinder_spheres.toml).
Stores go to a temporary folder (or ``-o DIR``) and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from femeit import datasets

ROOT = Path(__file__).resolve().parents[1] / "datasets"


def run(config, path: Path, n: int | None, **kwargs) -> datasets.GenerateReport:
    if path.exists():
        shutil.rmtree(path)
    report = datasets.generate(config, path, n, progress=False, **kwargs)
    assert report.computed == report.n_samples
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--full", action="store_true", help="generate all 29,511 CNN-EIM samples")
    parser.add_argument("--3d", dest="three_d", action="store_true", help="also the 1,000-sample 3D cylinder set")
    parser.add_argument("-o", "--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="femeit-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    cnn = datasets.load_config(ROOT / "cnn_eim.toml")
    datasets.generate(cnn, out / "warm.zarr", 8, workers=1, progress=False)  # mesh into the cache
    n = None if args.full else args.n
    report = run(cnn, out / "cnn.zarr", n)
    size = sum(f.stat().st_size for f in (out / "cnn.zarr").rglob("*") if f.is_file())
    print(
        f"CNN-EIM, local workers: {report.n_samples} samples in {report.seconds:.1f} s = {report.rate:.0f} samples/s"
        f" (target 100); store {size / 2**20:.0f} MiB; 29,511 samples would take {29511 / report.rate / 60:.1f} min"
    )
    from dask.distributed import LocalCluster

    m = min(args.n, 1000)
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, dashboard_address=None) as cluster:
            r = run(cnn, out / f"dask{n_workers}.zarr", m, chunk_size=64, scheduler=cluster.scheduler_address)
        print(f"CNN-EIM, Dask LocalCluster, {n_workers} worker(s): {m} samples, {r.rate:.0f} samples/s")
    if args.three_d:
        cyl = datasets.load_config(ROOT / "cylinder_spheres.toml")
        datasets.generate(cyl, out / "warm3d.zarr", 2, workers=1, progress=False)
        r = run(cyl, out / "cyl.zarr", None, chunk_size=25)
        print(f"3D cylinder: {r.n_samples} samples in {r.seconds:.0f} s = {r.rate:.1f} samples/s")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
