"""KTC2023 readers on the challenge's layouts, built from small generated .mat files."""

import numpy as np
import pytest
from scipy.io import savemat

from femeit import ktc2023 as ktc
from femeit.errors import FemeitError


@pytest.fixture(scope="module")
def level1():
    return ktc.load_level(1)


def _arrays(level1, target=1, removed=()):
    """(ref arrays, data arrays) of a target with the rows that use ``removed`` (0-based) set to NaN."""
    p = level1.protocol
    inj, mpat = p.injections.T * 1e3, p.measurements[:31].T
    u = level1.data[target].voltages.copy()
    if len(removed):
        gone = np.asarray(removed)
        drives = np.any(p.injections[:, gone] != 0, axis=1)[p.row_injection]
        rows = np.any(p.measurements[:, gone] != 0, axis=1) | drives
        u[rows] = np.nan
    ref = {"Injref": inj, "Mpat": mpat, "Uelref": level1.reference.voltages[:, None]}
    return ref, {"Inj": inj, "Mpat": mpat, "Uel": u[:, None]}


def _truth(seed):
    t = np.zeros((256, 256), dtype=np.uint8)
    t[40 + seed : 90 + seed, 100:150] = 1 + seed % 2
    return {"truth": t}


def _evaluation_set(root, level1, levels=(1, 3), n_targets=3):
    """The evaluation set's names: levelK/ref.mat, levelK/dataN.mat, GroundTruths/level_K/N_true.mat."""
    for lv in levels:
        folder = root / f"level{lv}"
        folder.mkdir(parents=True)
        gone = np.arange(2 * (lv - 1))
        for n in range(1, n_targets + 1):
            ref, data = _arrays(level1, 1 + (n - 1) % 4, gone)
            savemat(folder / f"data{n}.mat", data)
            (root / "GroundTruths" / f"level_{lv}").mkdir(parents=True, exist_ok=True)
            savemat(root / "GroundTruths" / f"level_{lv}" / f"{n}_true.mat", _truth(n + lv))
        savemat(folder / "ref.mat", ref)
    return root


def test_evaluation_layout_any_number_of_targets(tmp_path, level1):
    root = _evaluation_set(tmp_path, level1)
    assert list(ktc.level_folders(root)) == [1, 3]
    lv = ktc.load_level(3, root)
    assert sorted(lv.data) == [1, 2, 3]
    np.testing.assert_array_equal(lv.mask, ktc.usable_rows(lv.protocol, 3))
    np.testing.assert_array_equal(ktc.removed_electrodes(lv.data[2]), [0, 1, 2, 3])
    truths = ktc.load_truths(root, level=3)
    assert sorted(truths) == [1, 2, 3] and truths[2][50, 120] == 1 + (2 + 3) % 2
    with pytest.raises(FemeitError, match="per level"):
        ktc.load_truths(root)
    with pytest.raises(FemeitError, match="no folder for level 2"):
        ktc.load_level(2, root)


def test_training_layout_mask_derived_from_the_data(tmp_path, level1):
    folder = tmp_path / "level_5"
    folder.mkdir()
    for n in (1, 2):  # two targets, electrodes 8 and 9 (1-based) missing: not the level-5 rule
        ref, data = _arrays(level1, n, [7, 8])
        savemat(folder / f"data{n}.mat", data)
    savemat(folder / "ref.mat", ref)
    (tmp_path / "ground_truth").mkdir()
    savemat(tmp_path / "ground_truth" / "true1.mat", _truth(0))
    lv = ktc.load_level(5, tmp_path)
    np.testing.assert_array_equal(ktc.removed_electrodes(lv.data[1]), [7, 8])
    assert int((~lv.mask).sum()) == int(np.isnan(lv.data[1].voltages).sum()) > 0
    assert not np.array_equal(lv.mask, ktc.usable_rows(lv.protocol, 5))
    assert list(ktc.load_truths(tmp_path)) == [1]


def test_level_folder_without_reference(tmp_path, level1):
    folder = tmp_path / "level1"
    folder.mkdir()
    savemat(folder / "data1.mat", _arrays(level1)[1])
    with pytest.raises(FemeitError, match=r"level1: the level folder has no reference ref\.mat"):
        ktc.load_level(1, tmp_path)


def test_nan_beyond_the_mask_names_the_file_and_row(tmp_path, level1):
    folder = tmp_path / "level_2"
    folder.mkdir()
    ref, data = _arrays(level1, 1, [0, 1])
    data["Uel"][1000, 0] = np.nan  # pattern 33, reading 8: uses neither electrode 1 nor 2
    savemat(folder / "ref.mat", ref)
    savemat(folder / "data1.mat", data)
    with pytest.raises(FemeitError, match=r"data1\.mat: 1 NaN readings beyond the mask .* \[1, 2\].* row 1001"):
        ktc.load_level(2, tmp_path)


def test_targets_lacking_different_electrodes(tmp_path, level1):
    folder = tmp_path / "level_2"
    folder.mkdir()
    ref, d1 = _arrays(level1, 1, [0, 1])
    _, d2 = _arrays(level1, 2, [0, 1, 2, 3])
    savemat(folder / "ref.mat", ref)
    savemat(folder / "data1.mat", d1)
    savemat(folder / "data2.mat", d2)
    with pytest.raises(FemeitError, match=r"data2\.mat: its missing electrodes differ from those of .*data1\.mat"):
        ktc.load_level(2, tmp_path)


@pytest.mark.parametrize("keep", [0.5, 0.05, 0.0])
def test_truncated_mat_file_names_the_file(tmp_path, level1, keep):
    folder = tmp_path / "level_1"
    folder.mkdir()
    ref, data = _arrays(level1)
    savemat(folder / "ref.mat", ref)
    savemat(folder / "data1.mat", data)
    raw = (folder / "data1.mat").read_bytes()
    (folder / "data1.mat").write_bytes(raw[: int(keep * len(raw))])
    with pytest.raises(FemeitError, match=r"data1\.mat is not a readable MATLAB \.mat file"):
        ktc.load_level(1, tmp_path)


def test_empty_root_and_folder_without_targets(tmp_path):
    with pytest.raises(FemeitError, match="no level folder"):
        ktc.level_folders(tmp_path)
    with pytest.raises(FemeitError, match="not found"):
        ktc.level_folders(tmp_path / "nowhere")
    (tmp_path / "level_1").mkdir()
    with pytest.raises(FemeitError, match="no target data"):
        ktc.target_files(tmp_path / "level_1")
