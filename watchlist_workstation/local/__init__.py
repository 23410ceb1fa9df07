"""Workstation-only local mode: runs the stack offline on one machine. Never shipped to Lambda."""
