"""The pipeline's runtime package: everything in it ships in the Lambda layer, and nothing else does.

What runs only on a workstation lives in `watchlist_workstation/` beside it (docs/design.md, "Layout").
"""

__version__ = "0.1.0"
PROJECT_NAME = "watchlist-sentiment-pipeline"
