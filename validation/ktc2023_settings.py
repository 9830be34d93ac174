"""Choose the classical KTC2023 pipeline's settings on simulated tank targets (never on the public ones).

Run:  python validation/ktc2023_settings.py [--targets 40] [--levels 1,2,...]

Calibrates the tank to the packaged empty-tank reference, simulates random
targets (:func:`femeit.ktc2023.targets.simulate_targets`, seed 2023, a finer
mesh than the imaging one, noise of the reference's noise model), and for each
level prints the best (lambda, fraction, presence, z_min) by mean simulated
challenge score (:func:`femeit.ktc2023.settings_search.search_level`).  The
table printed last is what ``femeit.ktc2023.classical.CLASSICAL_SETTINGS`` holds.
"""

from __future__ import annotations

import argparse
import sys
import time

from femeit import ktc2023 as ktc
from femeit.ktc2023.classical import TankImager
from femeit.ktc2023.settings_search import search_level
from femeit.ktc2023.targets import simulate_targets

TUNING_SEED = 2023


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=40, help="simulated targets (default 40)")
    ap.add_argument("--levels", default="1,2,3,4,5,6,7")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    imager = TankImager.calibrated(ktc.load_level(1).reference)
    sims = simulate_targets(imager.model, imager.sigma0, args.targets, TUNING_SEED)
    chosen = {}
    for level in (int(v) for v in args.levels.split(",")):
        settings, scores = search_level(imager, sims, level, seed=level)
        chosen[level] = settings
        elapsed = time.perf_counter() - start
        print(f"level {level}: {settings} (mean simulated score {scores.max():.3f}; {elapsed:.0f} s)")
        sys.stdout.flush()
    print("CLASSICAL_SETTINGS = {")
    for level, s in chosen.items():
        print(f"    {level}: Settings({s.lam:g}, {s.fraction:g}, {s.presence:g}, {s.z_min:g}),")
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
