"""Shared set-up of the robustness tests (issue 22): a tiny dataset config and helpers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOML = """
seed = 5

[sensor]
kind = "circle"
radius = 1.0
n_electrodes = 16
electrode_width = 0.1
h = 0.15
h_electrode = 0.05

[forward]
protocol = "adjacent"
contact_impedance = 0.01

[phantom]
shape = "circle"
background = 0.05
conductivity = [1e-4, 1e-2]
radius = [0.1, 0.3]
margin = 0.05
min_gap = 0.02
n_objects = [1, 2]

[image]
shape = [8, 8]

[split]
validation = 0.2
test = 0.2
"""


def write_config(folder: Path, extra: str = "", replace: tuple[str, str] | None = None) -> Path:
    """Write the tiny config (optionally edited) into ``folder``; returns its path."""
    text = TOML if replace is None else TOML.replace(*replace)
    path = folder / "tiny.toml"
    path.write_text(text + extra)
    return path


def chunk_file(store: Path, name: str, chunk: int) -> Path:
    """The file of chunk ``chunk`` (along the sample axis) of array ``name`` in a zarr v3 store."""
    folder = store / name / "c" / str(chunk)
    if folder.is_file():
        return folder
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert len(files) == 1, files
    return files[0]
