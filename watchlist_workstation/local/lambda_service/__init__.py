"""Local mode's Lambda service: LocalLambda (service.py) and the parts it is a facade over.

This package is imported by every worker process (`python -m watchlist_workstation.local.lambda_service.runtime`)
before the function's own code, so it imports nothing here: import LocalLambda from
watchlist_workstation.local.lambda_service.service. service.py's docstring maps the modules
(docs/design.md, "Local mode").
"""
