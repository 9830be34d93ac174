"""femeit.forward.adjoints: measurement patterns from current patterns and a few extra ones."""

from __future__ import annotations

import numpy as np
import pytest

from femeit.forward.adjoints import adjoint_combination
from femeit.protocol import Protocol


def _grounded(protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    return protocol.injections[:, 1:], np.unique(protocol.measurements, axis=0)[:, 1:]


@pytest.mark.parametrize(
    ("protocol", "n_extra"),
    [
        (Protocol.adjacent(16), 0),
        (Protocol.opposite(16), 7),  # e_i - e_(i+8): 8 independent drives of 15 dimensions
        (Protocol.adjacent(8), 0),
        (Protocol.dipole_dipole(16), 1),
    ],
)
def test_the_measurement_patterns_are_reproduced_from_the_drives_and_the_extra_patterns(protocol, n_extra):
    currents, measurements = _grounded(protocol)
    combination = adjoint_combination(currents, measurements, max_extra=len(currents))
    assert combination is not None
    extra = combination.extra
    assert extra.shape == (n_extra, currents.shape[1])
    np.testing.assert_allclose(extra @ extra.T, np.eye(n_extra), atol=1e-12)  # orthonormal ...
    np.testing.assert_allclose(extra @ currents.T, 0, atol=1e-12)  # ... and beyond the drives' span
    patterns = np.vstack([currents, extra])
    np.testing.assert_allclose(patterns.T @ combination.coefficients, measurements.T, atol=1e-12)


def test_random_patterns_need_what_their_spans_say():
    rng = np.random.default_rng(4)
    currents = rng.standard_normal((6, 11))
    measurements = rng.standard_normal((9, 11))  # 9 of 11 dimensions, 6 covered: 5 beyond (11 - 6 = 5 at most)
    combination = adjoint_combination(currents, measurements, max_extra=6)
    assert combination is not None and len(combination.extra) == 5
    assert adjoint_combination(currents, measurements, max_extra=4) is None  # more needed than allowed
    # Measurements inside the drives' span need nothing extra, whatever their number.
    inside = rng.standard_normal((20, 6)) @ currents
    combination = adjoint_combination(currents, inside, max_extra=0)
    assert combination is not None and combination.extra.shape == (0, 11)
    np.testing.assert_allclose(currents.T @ combination.coefficients, inside.T, atol=1e-10)


def test_degenerate_patterns():
    currents = np.array([[1.0, -1.0, 0.0], [2.0, -2.0, 0.0]])  # rank 1
    zero = np.zeros((1, 3))
    combination = adjoint_combination(currents, zero, max_extra=0)  # a pattern of zeros needs nothing
    assert combination is not None and np.all(combination.coefficients == 0)
    assert adjoint_combination(currents, np.array([[np.nan, 0.0, 0.0]]), max_extra=3) is None
    assert adjoint_combination(currents, np.ones((2, 4)), max_extra=3) is None  # another number of electrodes
