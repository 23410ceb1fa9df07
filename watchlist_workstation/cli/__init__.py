"""The workstation CLI (`./cfcli.py`): click commands over lib and ddb_ops. Never shipped to Lambda."""
