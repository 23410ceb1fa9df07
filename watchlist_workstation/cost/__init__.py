"""The monthly cost of ownership: what the pipeline's calls, units and bytes cost on AWS.

A workstation-only subpackage (the Lambda layer leaves it out). `prices` is the one dated price
table, `units` the billing rules (Comprehend units, DynamoDB item sizes and capacity units),
`model` the calls a tick makes as the code makes them, `localrun` what a local run counted (the record
local mode writes; this package never imports local mode, which may import it).
"""
