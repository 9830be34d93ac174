"""``python -m femeit`` runs the command line."""

from femeit.cli import run

run()
