"""femeit's PARDISO binding beside the one it replaced (session 14), interleaved in one process.

Run:  python benchmarks/pardiso_binding.py [--rounds 400]

The earlier binding called MKL's ``pardiso`` through a function object with
typed arguments, making every pointer (``ndarray.ctypes.data_as``) and every
integer (``ctypes.byref(c_int32(...))``) anew on each call; the present one
(``linsolve._PardisoHandle.call``) passes addresses made once per handle and
pattern through a prototype of ``void *`` arguments.  This script rebuilds the
earlier call here and swaps it in for ``_PardisoHandle.call`` on alternate
calls of ``model.simulate`` (balanced orders, a new conductivity each), on
balls with 16 point electrodes.  The readings are checked identical first.
It reaches into femeit's private binding: a measurement, not an example of use.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time

import numpy as np
from timing import balanced_orders, commit

import femeit as fe
from femeit.forward import ForwardModel, linsolve
from femeit.protocol import Protocol


def earlier_call():
    """``_PardisoHandle.call`` as the earlier binding made it: typed arguments, converted on every call."""
    i32 = ctypes.POINTER(ctypes.c_int32)
    function = ctypes.CDLL(linsolve._mkl_solver().libmkl._name).pardiso  # a function object of its own
    function.argtypes = [ctypes.POINTER(ctypes.c_int64)] + [i32] * 5 + [ctypes.c_void_p, i32, i32, i32, i32, i32, i32]
    function.argtypes += [ctypes.c_void_p, ctypes.c_void_p, i32]
    function.restype = None

    def call(handle, phase, n, nrhs, data, ia, ja, perm, b, x):
        error = ctypes.c_int32(0)
        function(
            handle.pt.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
            ctypes.byref(ctypes.c_int32(1)),
            ctypes.byref(ctypes.c_int32(1)),
            ctypes.byref(ctypes.c_int32(2)),
            ctypes.byref(ctypes.c_int32(phase)),
            ctypes.byref(ctypes.c_int32(n)),
            data,
            ctypes.cast(ia, i32),
            ctypes.cast(ja, i32),
            ctypes.cast(perm, i32),
            ctypes.byref(ctypes.c_int32(nrhs)),
            handle.iparm.ctypes.data_as(i32),
            ctypes.byref(ctypes.c_int32(0)),
            b,
            x,
            ctypes.byref(error),
        )
        if error.value:
            raise RuntimeError(f"MKL error {error.value}")

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args()
    if "pardiso" not in linsolve.available_backends():
        raise SystemExit("this measurement needs PARDISO (pypardiso)")
    calls = {"earlier": earlier_call(), "present": linsolve._PardisoHandle.call}
    print(f"femeit at {commit()}; median wall time of model.simulate, us; present / earlier: median per-round ratio")
    try:
        for h, protocol in ((0.4, "adjacent"), (0.25, "adjacent"), (0.25, "opposite")):
            mesh = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=h, h_electrode=h / 2))
            model = ForwardModel(mesh, Protocol.by_name(protocol, 16), electrode_model="point")
            rng = np.random.default_rng(1)
            draws = [np.exp(0.3 * rng.standard_normal(mesh.n_elements)) for _ in range(50)]
            readings = {}
            for name, call in calls.items():
                linsolve._PardisoHandle.call = call
                readings[name] = ForwardModel(mesh, model.protocol, electrode_model="point").simulate(draws[0])
            if not np.array_equal(readings["earlier"], readings["present"]):
                raise SystemExit("the two bindings give different readings")
            names = list(calls)
            times: dict[str, list[float]] = {name: [] for name in names}
            count = 0
            for order in balanced_orders(2, args.rounds):
                for k in order:
                    linsolve._PardisoHandle.call = calls[names[k]]
                    count += 1
                    start = time.perf_counter()
                    model.simulate(draws[count % len(draws)])
                    times[names[k]].append(time.perf_counter() - start)
            ratios = [b / a for a, b in zip(times["earlier"], times["present"], strict=True)]
            earlier, present = (1e6 * statistics.median(times[name]) for name in names)
            print(
                f"ball h={h} ({model.discretization.plan.size} unknowns), {protocol}: earlier {earlier:.0f}, "
                f"present {present:.0f}, present / earlier {statistics.median(ratios):.3f}"
            )
    finally:
        linsolve._PardisoHandle.call = calls["present"]


if __name__ == "__main__":
    main()
