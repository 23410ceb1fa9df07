"""Workstation-only deployment helpers: never shipped in the Lambda layer, never imported by a handler."""
