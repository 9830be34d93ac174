"""P1 CEM voltages against EIDORS's fwd_solve_1st_order on identical meshes (fixtures in tests/data/eidors)."""

from pathlib import Path

import numpy as np
import pytest

from femeit.forward import ForwardModel
from femeit.mesh import EITMesh
from femeit.protocol import Protocol

DATA = Path(__file__).parent / "data" / "eidors"
FIXTURES = sorted(p.stem for p in DATA.glob("*.npz"))
TOL = 1e-6


def load(name):
    d = np.load(DATA / f"{name}.npz")
    off, flat = d["electrode_offsets"], d["electrode_flat"]
    electrodes = [flat[off[i] : off[i + 1]] for i in range(len(off) - 1)]
    # EIDORS's rule, as from_arrays applies it: an electrode is every boundary
    # facet whose nodes all belong to its node list.
    mesh = EITMesh.from_arrays(d["nodes"], d["elements"], electrodes)
    protocol = Protocol(int(d["n_electrodes"]), d["injections"], d["row_injection"], d["measurements"])
    return d, mesh, protocol


def rel_diff(v, ref):
    return np.abs(v - ref).max() / np.abs(ref).max()


def test_fixtures_present():
    assert {"disk2d", "ellipse2d", "cylinder3d", "common_d2C2"} <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_p1_cem_matches_eidors(name):
    d, mesh, protocol = load(name)
    assert mesh.n_electrodes == int(d["n_electrodes"])
    # Both use z in ohm m (2D) / ohm m^2 (3D), positive current into the body,
    # and reading = weights @ electrode potentials, so the data map one to one.
    model = ForwardModel(mesh, protocol, contact_impedance=d["z_contact"], order=1, electrode_model="cem")
    v = model.simulate(d["sigma"])
    ref = d["eidors_voltages"]
    assert v.shape == ref.shape
    assert rel_diff(v, ref) < TOL, f"{name}: max|dv|/max|v| = {rel_diff(v, ref):.3e}"


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_is_sensitive_to_contact_impedance_and_conductivity(name):
    """The comparison is not vacuous: 10% changes in z or in sigma move the voltages far beyond TOL.

    (disk2d and common_d2C2 skip readings on current-carrying electrodes, where
    z acts only weakly; the other fixtures read them too.)
    """
    d, mesh, protocol = load(name)
    ref = d["eidors_voltages"]
    z, sigma = d["z_contact"], d["sigma"]
    bumped = z.copy()
    bumped[np.argmax(z)] *= 1.1
    v = ForwardModel(mesh, protocol, contact_impedance=bumped).simulate(sigma)
    assert rel_diff(v, ref) > 100 * TOL
    sigma2 = np.where(sigma > np.median(sigma), 1.1 * sigma, sigma)
    v = ForwardModel(mesh, protocol, contact_impedance=z).simulate(sigma2)
    assert rel_diff(v, ref) > 1e3 * TOL
