"""Forward solves of threads sharing one model (Dask's threaded workers), per call.

Run:  MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/shared_model_threads.py [--calls 400]

One ``ForwardModel`` (the 3,639-tetrahedron ball with 16 point electrodes of
``pyeit_comparison.py``, PARDISO where installed) is called with a new
conductivity per call from a thread pool of 1 and 2 workers; printed are the
wall and CPU time (``time.process_time``, all threads) per call.  With BLAS and
MKL pinned to one thread each worker's factorisation runs on one core, so two
workers should halve the wall time per call at the same CPU time.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from floor_ratio import cases
from timing import commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="timed calls per pool size (default 400)")
    args = parser.parse_args()
    _, factory, _ = next(case for case in cases(False) if case[0].startswith("ball") and "h=0.25" in case[0])
    model = factory()
    rng = np.random.default_rng(0)
    sigmas = [np.exp(0.3 * rng.standard_normal(model.mesh.n_elements)) for _ in range(args.calls)]
    print(f"femeit at {commit()}; {model.mesh.n_elements} tetrahedra, solver {model.solver}")
    for workers in (1, 2):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(model.simulate, sigmas[:20]))  # untimed: each worker's first factorisation
            wall, cpu = time.perf_counter(), time.process_time()
            list(pool.map(model.simulate, sigmas))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        per_call = f"{wall / args.calls * 1e3:.2f} ms wall, {cpu / args.calls * 1e3:.2f} ms CPU"
        print(f"{workers} worker(s): {per_call} per call")


if __name__ == "__main__":
    main()
