"""Rebuild the shipped ``ktc-unet`` weights from scratch and score them on the simulated test split.

Run:  python benchmarks/ktc_unet.py [-o DIR] [--epochs 24] [--workers 2]

1. ``femeit dataset generate datasets/ktc2023_tank.toml -o DIR/tank.zarr --workers 2``
   (4,000 simulated tank samples; resumable);
2. ``femeit learn train DIR/tank.zarr --network ktc-unet --epochs 24 --batch-size 32 --seed 0
   -o DIR/run`` (one torch thread; the tank is calibrated to the packaged level-1 reference);
3. the challenge score of ``DIR/run/model.pt`` per level on the dataset's test split (samples
   never trained on), beside all-water.

Wall and CPU times of each step are printed.  ``DIR/run/model.pt`` is what
``femeit/data/ktc_unet/model.pt`` holds (the same seed and thread count give
the same weights).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> None:
    """Run a command; print its wall and CPU (children) seconds."""
    wall, before = time.perf_counter(), os.times()
    subprocess.run(cmd, check=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    print(f"{' '.join(cmd[:4])} ...: wall {time.perf_counter() - wall:.0f} s, CPU {cpu:.0f} s", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="ktc_unet_build")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--test-samples", type=int, default=100, help="test samples scored per level")
    args = ap.parse_args(argv)
    out = Path(args.out)
    femeit = [sys.executable, "-m", "femeit"]
    config, store = str(ROOT / "datasets" / "ktc2023_tank.toml"), str(out / "tank.zarr")
    generate = ["dataset", "generate", config, "-o", store, "--workers", str(args.workers), "--chunk-size", "50"]
    timed([*femeit, *generate, "--quiet"])
    train = ["learn", "train", store, "--network", "ktc-unet", "--epochs", str(args.epochs), "--batch-size", "32"]
    timed([*femeit, *train, "--seed", "0", "-o", str(out / "run")])
    from femeit import ktc2023 as ktc
    from femeit.learn.ktc_inputs import LevelInputs
    from femeit.learn.ktc_pipeline import score_split
    from femeit.learn.ktc_training import load

    inputs = LevelInputs.from_reference(ktc.load_level(1).reference)
    scores = score_split(out / "tank.zarr", load(out / "run"), inputs, "test", args.test_samples)
    print("| level | ktc-unet, simulated test split | all-water |\n|---|---|---|")
    for level, (net, water) in scores.items():
        print(f"| {level} | {net:.3f} | {water:.3f} |")
    print(f"weights: {out / 'run' / 'model.pt'} ({(out / 'run' / 'model.pt').stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
