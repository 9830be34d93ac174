"""Issue 22, fuzz: random specs, configs and command lines give a result or a clear error, never a traceback or a hang.

hypothesis is not installed in the project's environment, so the cases come from
a seeded generator: each test is reproducible, and a failure prints the case.
Spec and config cases are checked in-process (without meshing); command lines
run in a child process under a timeout, so a hang fails the test instead of
stalling the suite.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import textwrap
import tomllib

import numpy as np
import pytest
from robust_common import ROOT, TOML

from femeit.errors import FemeitError

JUNK = [
    -1,
    0,
    1e-12,
    1e17,
    -1e17,
    math.nan,
    math.inf,
    "abc",
    "",
    True,
    2.0,
    10**9,
    -0.0,
    [],
    [1, 2, 3],
    {},
    {"x": 1},
    [0.5, 1.7],
    "1",
]


def _mutate(data: dict, rng: np.random.Generator) -> dict:
    """A copy of ``data`` with one to three random edits: a junk value, a deleted key or an unknown key."""
    out = copy.deepcopy(data)
    for _ in range(int(rng.integers(1, 4))):
        # Walk down to a random table.
        table = out
        while True:
            subtables = [k for k, v in table.items() if isinstance(v, dict)]
            if not subtables or rng.random() < 0.5:
                break
            table = table[subtables[int(rng.integers(len(subtables)))]]
        keys = list(table)
        action = rng.random()
        if action < 0.7 and keys:
            table[keys[int(rng.integers(len(keys)))]] = copy.deepcopy(JUNK[int(rng.integers(len(JUNK)))])
        elif action < 0.85 and keys:
            del table[keys[int(rng.integers(len(keys)))]]
        else:
            table[f"unknown_{int(rng.integers(100))}"] = 1
    return out


def _specs() -> list[dict]:
    return [tomllib.loads(p.read_text()) for p in sorted((ROOT / "geometries").glob("*.toml"))]


def test_fuzz_specs_give_a_spec_or_a_clear_error():
    from femeit.geometry.spec_checks import check_buildable
    from femeit.geometry.spec_io import spec_from_dict
    from femeit.limits import check_mesh_size

    rng = np.random.default_rng(22)
    bases = _specs()
    outcomes = {"ok": 0, "error": 0}
    for case in range(600):
        data = _mutate(bases[case % len(bases)], rng)
        try:
            spec = spec_from_dict(data)
            check_buildable(spec)
            check_mesh_size(spec)
            outcomes["ok"] += 1
        except FemeitError as exc:
            assert str(exc), data
            outcomes["error"] += 1
        except Exception as exc:  # pragma: no cover - the failure to report
            pytest.fail(f"spec case {case} raised {type(exc).__name__}: {exc}\n{data!r}")
    # Both branches are exercised: the fuzz is not all-error or all-valid.
    assert outcomes["ok"] > 30 and outcomes["error"] > 300, outcomes


def test_fuzz_dataset_configs_give_a_config_or_a_clear_error():
    from femeit.datasets import config_from_dict
    from femeit.limits import check_dataset_size

    rng = np.random.default_rng(2022)
    base = tomllib.loads(TOML)
    outcomes = {"ok": 0, "error": 0}
    for case in range(400):
        data = _mutate(base, rng)
        try:
            config = config_from_dict(data)
            check_dataset_size(config, 10, 4)
            outcomes["ok"] += 1
        except FemeitError as exc:
            assert str(exc), data
            outcomes["error"] += 1
        except Exception as exc:  # pragma: no cover - the failure to report
            pytest.fail(f"config case {case} raised {type(exc).__name__}: {exc}\n{data!r}")
    assert outcomes["ok"] > 20 and outcomes["error"] > 200, outcomes


SOLVERS = ["tikhonov", "occam", "tsvd", "backprojection", "landweber", "smdr", "gpsr", "twist", "nonsense"]
OPTIONS = {
    "--lam": ["auto", "0", "1e-3", "1e6", "-1", "abc", "nan", "1e300"],
    "--rank": ["1", "5", "100000", "0", "-2", "x"],
    "--shape": [["8", "8"], ["1", "1"], ["0", "3"], ["16", "4"], ["a", "b"]],
    "--grid": ["pixel", "element", "voxel"],
    "--protocol": ["adjacent", "opposite", "wenner", "bogus"],
    "--sigma": ["1", "0", "-1", "1e-12", "1e12", "nan", "abc"],
    "--z": ["0.01", "0", "1e-15", "1e12", "inf"],
    "--region": ["domain=2", "domain=abc", "nope=1", "=", "domain="],
    "--snr": ["40", "-10", "nan", "1e9"],
    "--current": ["1", "0", "-1e-3", "inf"],
    "--order": ["1", "2", "3"],
}

CHILD = textwrap.dedent(
    """
    import json, sys, traceback, warnings
    from femeit.cli import main
    warnings.simplefilter("ignore")
    bad = []
    for argv in json.loads(sys.argv[1]):
        try:
            status = main(argv)
        except BaseException as exc:  # anything that escapes main is a failure
            bad.append([argv, traceback.format_exc()])
            continue
        if status not in (0, 1, 2):
            bad.append([argv, f"exit status {status}"])
    print(json.dumps(bad))
    """
)


def _command_lines(rng: np.random.Generator, n: int) -> list[list[str]]:
    spec = str(ROOT / "geometries" / "cnn_eim_disk.toml")
    lines = []
    for _ in range(n):
        argv = ["reconstruct", spec, "--solver", SOLVERS[int(rng.integers(len(SOLVERS)))]]
        if rng.random() < 0.8:
            argv += ["--region", "domain=2"] if rng.random() < 0.5 else []
        for option in rng.choice(list(OPTIONS), size=int(rng.integers(0, 4)), replace=False):
            value = OPTIONS[option][int(rng.integers(len(OPTIONS[option])))]
            argv += [option, *value] if isinstance(value, list) else [option, value]
        if "--region" not in argv and rng.random() < 0.5:
            argv[0] = "forward"
            argv = [a for a in argv if a not in ("--solver",) and a not in SOLVERS]
        lines.append(argv)
    sizes = ["0.05", "1e-5", "0", "-1", "nan", "inf", "1e9", "abc"]
    for name in ("cnn_eim_disk", "kgpsr_cylinder", "gasulla2005_halfspace", "ball_ring"):
        for _ in range(2):
            argv = ["mesh", str(ROOT / "geometries" / f"{name}.toml")]
            for option in ("--h", "--h-electrode"):
                if rng.random() < 0.6:
                    argv += [option, sizes[int(rng.integers(len(sizes)))]]
            lines.append(argv)
    return lines


def test_fuzz_command_lines_end_in_a_result_or_a_message_without_hanging(tmp_path):
    rng = np.random.default_rng(17)
    lines = _command_lines(rng, 60)
    env = os.environ | {"FEMEIT_MAX_ELEMENTS": "200000", "MPLBACKEND": "Agg"}
    # A generous timeout: it detects a hang, it does not time anything.
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(lines)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bad = json.loads(result.stdout.strip().splitlines()[-1])
    assert not bad, "\n\n".join(f"{argv}\n{trace}" for argv, trace in bad[:5])
