"""Generate a dataset locally or on a Dask cluster, resumably; verify a finished one.

Workers only compute: each task is one chunk of consecutive sample indices
and returns its arrays; the calling process writes them into the zarr store
and then marks the chunk done.  So there is one writer, a chunk is either
entirely written and marked or recomputed on the next run, and since a sample
depends only on (seed, index) a recomputed chunk equals the lost one.  Killing
the generator (even with SIGKILL) and running the same command again resumes:
nothing is lost and nothing is duplicated (samples live at their index).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from femeit.datasets.config import DatasetConfig, config_from_dict, config_json
from femeit.datasets.store import chunks_done, create_store, open_dataset, write_chunk
from femeit.errors import FemeitError

_SIMULATORS: dict[str, object] = {}  # per worker process: config key -> Simulator


def _simulator(config: DatasetConfig):
    from femeit.datasets.simulator import Simulator

    key = config_json(config)
    if key not in _SIMULATORS:
        _SIMULATORS[key] = Simulator(config)
    return _SIMULATORS[key]


def _compute_chunk(config_data: dict, chunk: int, start: int, stop: int):
    """Task body (runs on a worker): the arrays of samples start..stop-1."""
    config = config_from_dict(config_data)
    return chunk, start, _simulator(config).compute_range(start, stop)


def _single_threaded_env() -> dict[str, str]:
    # One BLAS thread per worker: the workers already use every core, and a
    # fixed thread count keeps floating-point reductions reproducible.
    return {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@dataclass(frozen=True)
class GenerateReport:
    """What a :func:`generate` call did.

    Attributes: ``path``, ``n_samples``, ``computed`` (samples computed in this
    call), ``skipped`` (already present), ``seconds`` and ``rate`` (samples/s).
    """

    path: Path
    n_samples: int
    computed: int
    skipped: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else float("nan")


def generate(
    config: DatasetConfig,
    path: str | Path,
    n_samples: int | None = None,
    *,
    workers: int | None = None,
    chunk_size: int = 128,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerateReport:
    """Simulate a dataset into a zarr store, resuming where an earlier run stopped.

    Parameters
    ----------
    config : DatasetConfig
    path : str or Path
        The zarr directory (created, or resumed if it holds the same configuration).
    n_samples : int, optional
        Number of samples; default the count fixed by the config (``phantom.counts``
        or ``n_samples``).  With counts, a smaller number takes a prefix of the
        fixed random order, which holds every object count in proportion.
    workers : int, optional
        Local worker processes (default: every core).  1 computes in this process.
    chunk_size : int
        Samples per chunk: the unit of storage, of work and of resuming.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the
        workers then compute and this process writes.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    """
    from femeit.datasets.simulator import Simulator

    total = config.total_samples()
    n = total if n_samples is None else int(n_samples)
    if n is None:
        raise FemeitError("give the number of samples (--n), or set n_samples or phantom.counts in the config")
    if n < 1 or (total is not None and config.phantom.counts and n > total):
        raise FemeitError(f"the number of samples must be in 1..{total or 'inf'}, got {n}")
    if chunk_size < 1:
        raise FemeitError(f"chunk_size must be positive, got {chunk_size}")
    path = Path(path)
    start_time = time.perf_counter()
    group = create_store(path, config, n, chunk_size, Simulator(config))
    done = chunks_done(group)
    todo = [c for c in range(len(done)) if not done[c]]
    ranges = {c: (c * chunk_size, min((c + 1) * chunk_size, n)) for c in todo}
    skipped = n - sum(stop - start for start, stop in ranges.values())
    bar = _progress_bar(n, skipped, progress)
    computed = 0
    try:
        for chunk, start, arrays in _run(config, ranges, workers, scheduler):
            write_chunk(group, chunk, start, arrays)
            computed += len(arrays["voltages"])
            bar.update(len(arrays["voltages"]))
    except KeyboardInterrupt:
        bar.close()
        stored = skipped + computed
        print(f"\ninterrupted: {stored} of {n} samples stored; run the same command again to resume", file=sys.stderr)
        raise
    bar.close()
    if chunks_done(group).all():
        group.attrs["complete"] = True
    return GenerateReport(path, n, computed, skipped, time.perf_counter() - start_time)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", disable=not enabled, smoothing=0.1)


def _run(config: DatasetConfig, ranges: dict, workers: int | None, scheduler: str | None):
    """Yield (chunk, start, arrays) as chunks finish, in any order."""
    if not ranges:
        return
    data = config.to_dict()
    if scheduler is not None:
        yield from _run_dask(data, ranges, scheduler)
        return
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise FemeitError(f"workers must be positive, got {workers}")
    if workers == 1:
        for chunk, (start, stop) in ranges.items():
            yield _compute_chunk(data, chunk, start, stop)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # The workers inherit the environment when they are spawned, which the pool
    # does on submit (not when it is made): keep one BLAS thread per worker set
    # until every task is submitted, or each worker starts a thread per core and
    # they fight over the cores.
    saved = {k: os.environ.get(k) for k in _single_threaded_env()}
    os.environ.update(_single_threaded_env())
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        try:
            futures = [pool.submit(_compute_chunk, data, c, start, stop) for c, (start, stop) in ranges.items()]
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_dask(data: dict, ranges: dict, scheduler: str):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise FemeitError("--scheduler needs Dask: pip install 'femeit[datasets]'") from None
    client = Client(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        client.run(os.environ.update, _single_threaded_env())
        futures = [
            client.submit(_compute_chunk, data, c, start, stop, pure=False) for c, (start, stop) in ranges.items()
        ]
        for future in as_completed(futures):
            yield future.result()
    finally:
        if isinstance(scheduler, str):
            client.close()


@dataclass(frozen=True)
class VerifyReport:
    """Result of :func:`verify`: ``ok``, ``missing_chunks``, ``checked`` indices and ``problems`` (text)."""

    ok: bool
    n_samples: int
    missing_chunks: list
    checked: list
    problems: list


def verify(path: str | Path, n_check: int = 8, seed: int = 0, indices=None) -> VerifyReport:
    """Check that a dataset is complete and that recomputed samples equal the stored ones.

    Parameters
    ----------
    path : str or Path
    n_check : int
        Number of samples to recompute, chosen at random (with ``seed``) among
        all indices, plus the first and the last.
    indices : sequence of int, optional
        Recompute exactly these samples instead.
    """
    from femeit.datasets.simulator import Simulator

    ds = open_dataset(path)
    n = len(ds)
    problems = []
    done = chunks_done(ds.group)
    missing = [int(c) for c in np.flatnonzero(~done)]
    if missing:
        problems.append(f"{len(missing)} of {len(done)} chunks not written (first: chunk {missing[0]})")
    n_objects = ds.n_objects[:]
    if not missing:
        voltages = ds.voltages[:]
        if not np.all(np.isfinite(voltages)):
            problems.append("voltages hold NaN or infinite values")
        if np.any(n_objects < 0):
            problems.append("negative object counts")
    config = config_from_dict(ds.config)
    if indices is None:
        rng = np.random.default_rng(seed)
        indices = sorted({0, n - 1, *rng.choice(n, size=min(n_check, n), replace=False).tolist()})
    indices = [int(i) for i in indices]
    chunk_size = ds.attrs["chunk_size"]
    indices = [i for i in indices if done[i // chunk_size]]
    simulator = Simulator(config)
    for i in indices:
        fresh = simulator.compute(i)
        for name, value in fresh.items():
            stored = ds.group[name][i]
            if not np.array_equal(np.asarray(stored), np.asarray(value), equal_nan=True):
                diff = np.nanmax(np.abs(np.asarray(stored, float) - np.asarray(value, float)))
                problems.append(f"sample {i}: {name} differs from a fresh computation (max difference {diff:.3g})")
    return VerifyReport(not problems, n, missing, indices, problems)
