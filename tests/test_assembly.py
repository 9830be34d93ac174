"""The cached assembly (element scatter into a fixed CSR pattern) against scikit-fem's own assembly."""

import numpy as np
import pytest
import scipy.sparse as sp
import skfem
from skfem.helpers import dot, grad

import femeit as fe
from femeit.forward import Discretization, ForwardModel
from femeit.protocol import Protocol


@skfem.BilinearForm
def _weighted_laplace(u, v, w):
    return w.sigma * dot(grad(u), grad(v))


def _reference_system(d: Discretization, sigma: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """The grounded system built independently: scikit-fem's assembly of int sigma grad u . grad v, the
    electrode block, the shunt model's merge of electrode dofs, then electrode 0's unknown removed."""
    sigma_qp = np.repeat(sigma[:, None], d.basis.X.shape[-1], axis=1)  # one value per element
    k_dofs = skfem.asm(_weighted_laplace, d.basis, sigma=sigma_qp)
    merge = sp.csr_matrix((np.ones(d.n_dofs), (np.arange(d.n_dofs), d.dof_to_unknown)), shape=(d.n_dofs, d.n_unknowns))
    full = (merge.T @ k_dofs @ merge).toarray()
    block = d.electrode_block(z) if z is not None else None
    if block is not None:
        full += block.toarray()
    keep = np.ones(d.n_unknowns, dtype=bool)
    keep[d.electrode_unknowns[0]] = False
    return full[np.ix_(keep, keep)]


@pytest.mark.parametrize(
    ("dim", "order", "electrode_model"),
    [(2, 1, "cem"), (2, 2, "cem"), (2, 1, "shunt"), (2, 1, "point"), (3, 1, "point"), (3, 2, "point")],
)
def test_cached_assembly_equals_scikit_fem(dim, order, electrode_model):
    if dim == 2:
        width = 0.0 if electrode_model == "point" else 0.2
        mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=width, h=0.25, h_electrode=0.1))
    else:
        mesh = fe.mesh_from_spec(fe.BallSpec(radius=1.0, h=0.45, h_electrode=0.25))
    z = 0.02 * (1.0 + np.arange(16) / 16)
    model = ForwardModel(mesh, Protocol.adjacent(16), z, order=order, electrode_model=electrode_model)
    d = model.discretization
    rng = np.random.default_rng(dim * 10 + order)
    for _ in range(2):
        sigma = np.exp(rng.standard_normal(mesh.n_elements))  # a spread of about 20x between elements
        cached = model.system_matrix(sigma)
        expected = _reference_system(d, sigma, model.contact_impedance)
        assert cached.shape == expected.shape
        np.testing.assert_allclose(cached.toarray(), expected, rtol=0, atol=1e-13 * np.abs(expected).max())
        # The pattern is fixed per model; every structural nonzero of scikit-fem's matrix is in it.
        assert np.count_nonzero(np.abs(expected) > 1e-14 * np.abs(expected).max()) <= cached.nnz


def test_cached_dof_space_stiffness_equals_the_summed_element_matrices_beyond_int32_keys():
    """``Discretization.stiffness`` on more than 46,341 dofs, where row * n_dofs + column
    no longer fits in int32 (the dofs of scikit-fem are int32)."""
    mesh = fe.mesh_from_spec(fe.CircleSpec(radius=1.0, electrode_width=0.2, h=0.017, h_electrode=0.017))
    d = Discretization(mesh, order=2)
    assert d.n_dofs > 46_341
    weights = np.random.default_rng(7).standard_normal(mesh.n_elements)
    k = d.element_dofs.shape[1]
    rows = np.repeat(d.element_dofs.astype(np.int64), k, axis=1).ravel()
    cols = np.tile(d.element_dofs.astype(np.int64), (1, k)).ravel()
    data = (d.element_stiffness * weights[:, None, None]).ravel()
    expected = sp.csr_matrix((data, (rows, cols)), shape=(d.n_dofs, d.n_dofs))
    difference = d.stiffness(weights) - expected
    assert abs(difference).max() <= 1e-13 * abs(expected).max()
