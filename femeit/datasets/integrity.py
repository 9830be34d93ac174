"""Checksums of a dataset store, recorded at write time and checked by ``verify`` and ``--repair``.

Each sample of each per-sample array gets a 64-bit BLAKE2b digest of its
C-order bytes (in the array's stored dtype), kept in the ``checksums`` array
(n_samples, n_arrays) uint64 next to the data, in the same chunks; the arrays
written once (reference, mesh, protocol, mask) get a digest in the group
attribute ``static_checksums``.  A flipped byte, a chunk replaced by another
one, a deleted chunk file (read back as the fill value) or a truncated chunk
(which no longer decodes) is then found without recomputing anything, and it is
named by array, chunk and sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

STATIC = ("reference/voltages", "reference/eim", "image_mask", "mesh/points", "mesh/elements", "protocol/abmn")


def digest(values: np.ndarray) -> int:
    """64-bit BLAKE2b digest of an array's C-order bytes."""
    data = np.ascontiguousarray(values)
    return int.from_bytes(hashlib.blake2b(data.view(np.uint8).ravel(), digest_size=8).digest(), "little")


def sample_digests(values: np.ndarray) -> np.ndarray:
    """Digest of each sample (first axis), shape (n,) uint64."""
    rows = np.ascontiguousarray(values).reshape(len(values), -1)
    # One hash call per sample (not per element): the data are hashed in C.
    return np.array([digest(row) for row in rows], dtype=np.uint64)


@dataclass
class Damage:
    """What :func:`scan` found: ``problems`` (text), ``samples`` (bad indices), ``chunks`` (name -> chunk ids)."""

    problems: list = field(default_factory=list)
    samples: set = field(default_factory=set)
    chunks: dict = field(default_factory=dict)
    checked_chunks: int = 0


def _read(group, name, start=None, stop=None):
    """Read an array (or a slice of it); any decoding failure comes back as the exception."""
    try:
        arr = group[name]
        return (arr[start:stop] if start is not None else arr[...]), None
    except Exception as exc:  # zarr/numcodecs raise many types for damaged chunks
        return None, f"{type(exc).__name__}: {str(exc)[:120]}"


def scan(group, done: np.ndarray) -> Damage:
    """Check every written chunk of every array against the recorded checksums.

    Parameters
    ----------
    group : zarr.Group
        An open femeit store.
    done : ndarray of bool, shape (n_chunks,)
        Chunks marked written; the others are not checked (they hold no data yet).
    """
    damage = Damage()
    attrs = group.attrs.asdict()
    names = attrs.get("checksum_arrays")
    if names is None or "checksums" not in group:
        damage.problems.append(
            "the store records no checksums (written by an older femeit): only recomputed samples can be checked"
        )
        return damage
    for name, expected in (attrs.get("static_checksums") or {}).items():
        values, error = _read(group, name)
        if error is not None or digest(values) != int(expected):
            damage.problems.append(f"{name}: " + (f"cannot be read ({error})" if error else "checksum mismatch"))
            damage.chunks.setdefault(name, []).append(0)
    n, chunk_size = int(attrs["n_samples"]), int(attrs["chunk_size"])
    for c in np.flatnonzero(done):
        start, stop = int(c) * chunk_size, min((int(c) + 1) * chunk_size, n)
        damage.checked_chunks += 1
        sums, error = _read(group, "checksums", start, stop)
        if error is not None:
            damage.problems.append(f"checksums chunk {c} (samples {start}..{stop - 1}) cannot be read: {error}")
            damage.samples.update(range(start, stop))
            damage.chunks.setdefault("checksums", []).append(int(c))
            continue
        for k, name in enumerate(names):
            values, error = _read(group, name, start, stop)
            if error is not None:
                damage.problems.append(f"{name} chunk {c} (samples {start}..{stop - 1}) cannot be read: {error}")
                damage.samples.update(range(start, stop))
                damage.chunks.setdefault(name, []).append(int(c))
                continue
            bad = np.flatnonzero(sample_digests(values) != sums[:, k]) + start
            if len(bad):
                shown = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
                damage.problems.append(f"{name} chunk {c}: {len(bad)} sample(s) do not match their checksums: {shown}")
                damage.samples.update(int(i) for i in bad)
                damage.chunks.setdefault(name, []).append(int(c))
    return damage
