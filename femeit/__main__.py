"""``python -m femeit`` runs the command line."""

import sys

from femeit.cli import main

sys.exit(main())
