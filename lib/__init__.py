"""Shared runtime package of the watchlist sentiment pipeline.

Only the modules directly in this package ship in the Lambda layer; the
workstation-only subpackages (deploy, local mode, ...) must never be imported by
a handler.
"""

__version__ = "0.1.0"
PROJECT_NAME = "watchlist-sentiment-pipeline"
