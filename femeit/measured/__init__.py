"""Measured-data workflows: calibrating a forward model to a reference, difference imaging, segmentation.

* :mod:`~femeit.measured.calibration`: contact impedance, electrode width and
  common-mode channel terms fitted to a measured reference;
* :mod:`~femeit.measured.difference`: one-step difference reconstructions of measured frames;
* :mod:`~femeit.measured.segmentation`: images -> water / resistive / conductive labels.
"""
