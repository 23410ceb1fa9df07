"""What runs only on a workstation and never ships into a Lambda function: the CLI's commands, local
mode, the deploy and build steps, the dashboard, the cost model, the diagram and the dataset reader.

`lib/` beside it is exactly what the Lambda layer ships; this package may import `lib`, never the
reverse (docs/design.md, "Layout").
"""

import sys

from watchlist_workstation import project

if project.INSTALLED and str(project.ROOT) not in sys.path:
    # An installed CLI carries lib (and ddb_ops) in its own _project/ folder instead of claiming the
    # generic top-level names `lib` and `ddb_ops` in the environment it is installed into; they become
    # importable here, the way Lambda puts a layer's python/ folder on sys.path.
    sys.path.insert(0, str(project.ROOT))
