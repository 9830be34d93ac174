"""Everything about the Kuopio Tomography Challenge 2023 in one place.

* :mod:`~femeit.ktc2023.reader`: the challenge's MATLAB files -> :class:`~femeit.protocol.Protocol`
  and voltage arrays with a mask of usable rows; levels 2-7 rebuilt by masking;
* :mod:`~femeit.ktc2023.tank`: the water tank's geometry spec and forward model (defined once);
* :mod:`~femeit.ktc2023.score`: the challenge's score of a segmentation;
* :mod:`~femeit.ktc2023.classical`: the classical pipeline (noise-weighted linearised
  difference imaging, level-aware, fixed whitened-units strength, robust segmentation);
* :mod:`~femeit.ktc2023.targets`: random tank targets and their simulated data;
* :mod:`~femeit.ktc2023.settings_search`: choosing the pipeline's settings on simulated targets.

Calibration and difference imaging of measured data in general live in :mod:`femeit.measured`.
"""

from femeit.ktc2023.reader import (
    DATA_DIR,
    ELECTRODE_WIDTH,
    IMAGE_SHAPE,
    LEVELS,
    MILLIAMPERE,
    N_ELECTRODES,
    N_INJECTIONS,
    N_MEASUREMENTS,
    N_ROWS,
    RADIUS,
    TARGETS,
    Level,
    Measurement,
    level_folders,
    load_level,
    load_truths,
    mask_from_data,
    missing_electrodes,
    read_measurement,
    read_truth,
    reciprocity_error,
    removed_electrodes,
    target_files,
    transfer_matrix,
    usable_rows,
)
from femeit.ktc2023.score import ktc_score
from femeit.ktc2023.tank import H, tank_model, tank_spec

__all__ = [
    "DATA_DIR",
    "ELECTRODE_WIDTH",
    "IMAGE_SHAPE",
    "LEVELS",
    "MILLIAMPERE",
    "N_ELECTRODES",
    "N_INJECTIONS",
    "N_MEASUREMENTS",
    "N_ROWS",
    "RADIUS",
    "TARGETS",
    "H",
    "Level",
    "Measurement",
    "ktc_score",
    "level_folders",
    "load_level",
    "load_truths",
    "mask_from_data",
    "missing_electrodes",
    "read_measurement",
    "read_truth",
    "reciprocity_error",
    "removed_electrodes",
    "tank_model",
    "tank_spec",
    "target_files",
    "transfer_matrix",
    "usable_rows",
]
