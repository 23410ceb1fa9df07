"""What runs only on a workstation and never ships into a Lambda function: the CLI's commands, local
mode, the deploy and build steps, the dashboard, the cost model, the diagram and the dataset reader.

`lib/` beside it is exactly what the Lambda layer ships; this package may import `lib`, never the
reverse (docs/design.md, "Layout").
"""
