"""python -m watchlist_workstation.local.textserver: see cli.py."""

import sys

from watchlist_workstation.local.textserver.cli import main

sys.exit(main())
