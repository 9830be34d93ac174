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
from contextlib import contextmanager
from dataclasses import dataclass, field
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


# Relative tolerance of the recomputation check on floating-point arrays.  The
# workers run BLAS on one thread and verify may not: sums taken in another
# order differ in the last bits (1e-16..3e-15 relative on voltages).  Twenty
# times that is far below any real change of a sample (a phantom moved or a
# conductivity changed alters voltages by 1e-6 relative or more); integer
# arrays must match exactly, and the per-sample checksums still catch any
# change to a stored value, however small.
RECOMPUTE_RTOL = 1e-13


def same_sample(stored: np.ndarray, fresh: np.ndarray) -> bool:
    """Whether a stored sample equals its recomputation: exactly for integers, within
    :data:`RECOMPUTE_RTOL` of the array's largest magnitude for floating point (NaN equal to NaN)."""
    if stored.shape != fresh.shape:
        return False
    if stored.dtype.kind not in "fc":
        return bool(np.array_equal(stored, fresh))
    a, b = stored.astype(float), fresh.astype(float)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return False
    a, b = a[~nan_a], b[~nan_b]
    if a.size == 0:
        return True
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()))
    return bool(np.all(np.abs(a - b) <= RECOMPUTE_RTOL * scale))


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
    overwrite: bool = False,
    repair: bool = False,
) -> GenerateReport:
    """Simulate a dataset into a zarr store, resuming where an earlier run stopped.

    Parameters
    ----------
    config : DatasetConfig
    path : str or Path
        The zarr directory: created (a new or empty folder), or resumed if it holds
        the same configuration.  A non-empty folder that is not a femeit dataset
        is refused; nothing that femeit did not create is ever deleted.
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
    overwrite : bool
        Replace a femeit dataset made with another configuration (only its own
        entries are deleted).
    repair : bool
        Check every written chunk against its checksums first and recompute
        exactly the damaged samples (see :func:`verify`).

    Raises
    ------
    FemeitError
        Bad arguments, a foreign output folder, or another process writing the store.
    KeyboardInterrupt
        After SIGINT or SIGTERM: the workers are stopped and every finished chunk is kept.
    """
    from femeit.datasets.simulator import Simulator
    from femeit.datasets.storedir import refuse_foreign, writer_lock
    from femeit.limits import check_dataset_size

    total = config.total_samples()
    n = total if n_samples is None else n_samples
    if n is None:
        raise FemeitError("give the number of samples (--n), or set n_samples or phantom.counts in the config")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise FemeitError(f"the number of samples must be a whole number, got {n!r}")
    n = int(n)
    if n < 1 or (total is not None and config.phantom.counts and n > total):
        raise FemeitError(f"the number of samples must be in 1..{total or 'inf'}, got {n}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise FemeitError(f"chunk_size must be a positive whole number, got {chunk_size!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1):
        raise FemeitError(f"workers must be a positive whole number, got {workers!r}")
    if scheduler is not None and isinstance(scheduler, str):
        _check_scheduler_address(scheduler)
    check_dataset_size(config, n, chunk_size)
    path = Path(path)
    refuse_foreign(path)
    from femeit.outputs import writable_folder

    writable_folder(path, "dataset")
    start_time = time.perf_counter()
    with writer_lock(path):
        group = create_store(path, config, n, chunk_size, Simulator(config), overwrite=overwrite)
        repaired = _repair(group, config) if repair else 0
        done = chunks_done(group)
        todo = [c for c in range(len(done)) if not done[c]]
        ranges = {c: (c * chunk_size, min((c + 1) * chunk_size, n)) for c in todo}
        skipped = n - sum(stop - start for start, stop in ranges.values())
        bar = _progress_bar(n, skipped, progress)
        computed = 0
        stop_request = _StopRequest()
        try:
            with stop_request.installed():
                for chunk, start, arrays in _run(config, ranges, workers, scheduler, stop_request):
                    write_chunk(group, chunk, start, arrays)
                    computed += len(arrays["voltages"])
                    bar.update(len(arrays["voltages"]))
            if stop_request.signal is not None:
                raise KeyboardInterrupt(stop_request.signal)
        except KeyboardInterrupt:
            bar.close()
            stored = skipped + computed
            print(
                f"\ninterrupted: {stored} of {n} samples stored; run the same command again to resume",
                file=sys.stderr,
            )
            raise
        bar.close()
        if chunks_done(group).all():
            group.attrs["complete"] = True
    return GenerateReport(path, n, computed + repaired, skipped - repaired, time.perf_counter() - start_time)


def _check_scheduler_address(address: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx") or not (parts.hostname or parts.netloc):
        raise FemeitError(f"--scheduler must be a Dask scheduler address such as tcp://10.0.0.1:8786, got {address!r}")


def _repair(group, config: DatasetConfig) -> int:
    """Recompute the samples :func:`~femeit.datasets.integrity.scan` finds damaged; returns how many."""
    from femeit.datasets.integrity import scan
    from femeit.datasets.simulator import Simulator
    from femeit.datasets.store import write_samples

    damage = scan(group, chunks_done(group))
    if "checksum_arrays" not in group.attrs:
        raise FemeitError("this store records no checksums (written by an older femeit): --repair cannot find damage")
    static = [name for name in damage.chunks if "/" in name or name == "image_mask"]
    if static:
        raise FemeitError(
            f"arrays written once are damaged ({', '.join(static)}): the store cannot be repaired; "
            "generate it again in a new folder"
        )
    if not damage.samples:
        return 0
    simulator = Simulator(config)
    chunk_size, n = int(group.attrs["chunk_size"]), int(group.attrs["n_samples"])
    bad = np.array(sorted(damage.samples))
    for c in np.unique(bad // chunk_size):
        start, stop = int(c) * chunk_size, min((int(c) + 1) * chunk_size, n)
        in_chunk = bad[(bad >= start) & (bad < stop)]
        if len(in_chunk) == stop - start:
            # The whole chunk (e.g. undecodable): rewritten at once, never read back.
            write_samples(group, start, simulator.compute_range(start, stop))
            continue
        for i in in_chunk:
            write_samples(group, int(i), simulator.compute_range(int(i), int(i) + 1))
    print(f"repaired {len(bad)} damaged sample(s): {', '.join(str(i) for i in bad[:20])}", file=sys.stderr)
    return len(bad)


class _StopRequest:
    """SIGINT/SIGTERM handler of the parent: remember the signal; the run loop stops at the next chunk."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def _handle(self, signum, _frame) -> None:
        self.signal = signum

    @contextmanager
    def installed(self):
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", disable=not enabled, smoothing=0.1)


def _worker_init(parent: int) -> None:
    """Runs first in each worker: leave signals to the parent and die with it.

    SIGINT (Ctrl-C reaches the whole process group) is ignored so that only the
    parent decides what to keep; on Linux the kernel kills the worker when the
    parent dies (even by SIGKILL), elsewhere a watchdog thread does.
    """
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog remains
            pass

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()


def _run(config: DatasetConfig, ranges: dict, workers: int | None, scheduler: str | None, stop=None):
    """Yield (chunk, start, arrays) as chunks finish, in any order, until done or ``stop.signal`` is set."""
    if not ranges:
        return
    data = config.to_dict()
    if scheduler is not None:
        yield from _run_dask(data, ranges, scheduler, stop)
        return
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise FemeitError(f"workers must be positive, got {workers}")
    if workers == 1:
        for chunk, (start, stop_index) in ranges.items():
            if stop is not None and stop.signal is not None:
                return
            yield _compute_chunk(data, chunk, start, stop_index)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # The workers inherit the environment when they are spawned, which the pool
    # does on submit (not when it is made): keep one BLAS thread per worker while
    # the pool lives, or each worker starts a thread per core and they fight over
    # the cores.
    saved = {k: os.environ.get(k) for k in _single_threaded_env()}
    os.environ.update(_single_threaded_env())
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    # A bounded window of submitted chunks: memory stays flat for any number of
    # chunks, and a stop request leaves only the window to drop.
    queue = iter(ranges.items())
    window = 4 * workers

    def submit_next(pending: set) -> None:
        for c, (start, stop_index) in queue:
            pending.add(pool.submit(_compute_chunk, data, c, start, stop_index))
            if len(pending) >= window:
                return

    try:
        pending: set = set()
        submit_next(pending)
        while pending:
            # A short timeout: a signal only sets a flag, checked here.
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
            if stop is not None and stop.signal is not None:
                # Keep what is already finished, drop the rest.
                for future in [f for f in pending if f.done() and not f.cancelled() and f.exception() is None]:
                    yield future.result()
                return
            submit_next(pending)
    finally:
        _stop_pool(pool)
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _stop_pool(pool) -> None:
    """Cancel queued tasks and end the worker processes now (no orphans, no waiting for the run)."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public API lists them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():  # pragma: no cover - ignored SIGTERM
            process.kill()
            process.join(timeout=10)


def _run_dask(data: dict, ranges: dict, scheduler: str, stop=None):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise FemeitError("--scheduler needs Dask: pip install 'femeit[datasets]'") from None
    if isinstance(scheduler, str):
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise FemeitError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    else:
        client = scheduler
    try:
        client.run(os.environ.update, _single_threaded_env())
        futures = [
            client.submit(_compute_chunk, data, c, start, stop, pure=False) for c, (start, stop) in ranges.items()
        ]
        for future in as_completed(futures):
            yield future.result()
            if stop is not None and stop.signal is not None:
                client.cancel(futures)
                return
    finally:
        if isinstance(scheduler, str):
            client.close()


@dataclass(frozen=True)
class VerifyReport:
    """Result of :func:`verify`.

    Attributes: ``ok``, ``n_samples``, ``missing_chunks``, ``checked`` (recomputed
    indices), ``problems`` (text, each naming the array, chunk and samples),
    ``damaged`` (sorted indices of samples that fail their checksum, cannot be
    read or differ from a fresh computation) and ``checked_chunks`` (chunks
    compared with their checksums).
    """

    ok: bool
    n_samples: int
    missing_chunks: list
    checked: list
    problems: list
    damaged: list = field(default_factory=list)
    checked_chunks: int = 0


def verify(path: str | Path, n_check: int = 8, seed: int = 0, indices=None) -> VerifyReport:
    """Check a dataset: every written chunk against its checksums, then recomputed samples.

    Parameters
    ----------
    path : str or Path
    n_check : int
        Number of samples to recompute, chosen at random (with ``seed``) among
        all indices, plus the first and the last (0 recomputes only those two).
    indices : sequence of int, optional
        Recompute exactly these samples instead.

    Returns
    -------
    VerifyReport
        ``ok`` is True only when every chunk is written, every checksum matches
        and every recomputed sample equals the stored one.
    """
    from femeit.datasets.integrity import scan
    from femeit.datasets.simulator import Simulator

    if isinstance(n_check, bool) or not isinstance(n_check, (int, np.integer)) or n_check < 0:
        raise FemeitError(f"the number of samples to recompute must be zero or positive, got {n_check!r}")
    ds = open_dataset(path)
    n = len(ds)
    problems = []
    done = chunks_done(ds.group)
    missing = [int(c) for c in np.flatnonzero(~done)]
    if missing:
        problems.append(f"{len(missing)} of {len(done)} chunks not written (first: chunk {missing[0]})")
    damage = scan(ds.group, done)
    problems.extend(damage.problems)
    damaged = set(damage.samples)
    try:
        config = config_from_dict(ds.config)
    except FemeitError as exc:
        raise FemeitError(f"{path}: the stored configuration is not valid: {exc}") from None
    if indices is None:
        rng = np.random.default_rng(seed)
        indices = sorted({0, n - 1, *rng.choice(n, size=min(n_check, n), replace=False).tolist()})
    indices = [int(i) for i in indices]
    if any(i < 0 or i >= n for i in indices):
        raise FemeitError(f"sample indices must lie in 0..{n - 1}, got {indices}")
    chunk_size = ds.attrs["chunk_size"]
    indices = [i for i in indices if done[i // chunk_size]]
    simulator = Simulator(config)
    for i in indices:
        fresh = simulator.compute(i)
        for name, value in fresh.items():
            try:
                stored = np.asarray(ds.group[name][i])
            except Exception as exc:  # undecodable chunk
                problems.append(f"sample {i}: {name} cannot be read ({type(exc).__name__}: {exc})")
                damaged.add(i)
                continue
            value = np.asarray(value, dtype=stored.dtype)
            if not same_sample(stored, value):
                diff = np.nanmax(np.abs(stored.astype(float) - value.astype(float)))
                problems.append(f"sample {i}: {name} differs from a fresh computation (max difference {diff:.3g})")
                damaged.add(i)
    return VerifyReport(not problems, n, missing, indices, problems, sorted(damaged), damage.checked_chunks)
