"""The validation studies, installed as ``femeit.studies``: each module reproduces published figures.

Run one with ``python -m femeit.studies.<name> [--quick] -o DIR`` (or, in a source
checkout, ``python validation/<name>.py``); ``femeit validate`` runs them all and
writes one report.
"""
