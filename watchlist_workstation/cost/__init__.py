"""The monthly cost of ownership: what the pipeline's calls, units and bytes cost on AWS.

A workstation-only subpackage (the Lambda layer leaves it out). `prices` is the one dated price
table, `units` the billing rules (Comprehend units, DynamoDB item sizes and capacity units, SQS's
64 KB requests), `bill` prices an estimate's lines. An estimate (`estimate`) is built by `designs`
from the calls a tick makes as the code makes them (`tick`: the part of the watchlist it checks,
its messages, batches and Wikipedia requests), on what the template deploys (`deployment`), with
`durations` and `assumptions` for what the code cannot know, or by `from_run` from what a local run
counted (`localrun`, the record local mode writes; this package never imports local mode, which may
import it); `month` says how many ticks a month holds.
"""
