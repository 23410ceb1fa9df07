"""Limits and defaults only the workstation works by (the build, local mode, the cost model, the CLI).

What the functions themselves batch by lives in lib/limits.py, which ships; this module never does.
"""

# The stack name every command uses when neither --stack-name nor CFCLI_STACK_NAME gives one, in AWS
# and in local mode alike.
DEFAULT_STACK_NAME = "watchlist-sentiment"

# The functions' read timeout for one AWS attempt in local mode (lib/clients.py, READ_TIMEOUT_VARIABLE): a
# 1 MB Scan page of 100,000 companies takes moto 8.5 to 9.3 s with the producer's four segments asking at
# once, against AWS_READ_TIMEOUT's 10 s in lib/limits.py; a page that timed out would be asked again from the
# start. The invocation's deadline still bounds every attempt.
LOCAL_READ_TIMEOUT_SECONDS = 30

# ReceiveMessage returns at most 10 messages and DeleteMessageBatch takes at most 10 entries (SQS API
# reference): Lambda's event source mapping (played by local mode, priced by the cost model) gathers a
# batch and deletes it within these limits.
SQS_RECEIVE_MAX = 10
SQS_DELETE_BATCH = 10

# Comprehend bills sentiment in units of 100 characters with a 3-unit minimum per document (Amazon
# Comprehend pricing page): the cost model prices by it and the local endpoint counts by it.
COMPREHEND_UNIT_CHARS = 100
COMPREHEND_MIN_UNITS = 3

# Lambda's limit on a function's code plus all its layers, unzipped (Lambda quotas).
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000

# Lambda's longest function timeout (15 minutes): a synchronous Invoke may take this long to answer.
LAMBDA_MAX_TIMEOUT_SECONDS = 900

# Reading results "since" a time: a row sits in the partition of its batch's earliest requested_at, which can be
# older than its analyzed_at by as long as a message may wait on the work queue (SQS's default retention, 4 days,
# which the template keeps). Partitions this many days before the requested date are read too, and rows are then
# filtered by analyzed_at. (A message redriven from the dead-letter queue can be older still.)
RESULTS_PARTITION_LOOKBACK_DAYS = 4

# A company's history (its dashboard page, `results --name … --all`) reads the day partitions since the company was
# added, at most this many days back; `?days=` and `--days` read another number of days (docs/cli.md, "Reading the
# dataset"). A day costs about three requests (a listing, the manifest, one compacted object).
HISTORY_DEFAULT_DAYS = 90

# S3 DeleteObjects removes at most 1,000 keys (or versions) per request (S3 API reference, DeleteObjects).
S3_DELETE_BATCH = 1000

# CloudWatch PutMetricData takes at most 1,000 metric data in one request (CloudWatch API reference,
# PutMetricData: MetricData, array members maximum 1000).
CLOUDWATCH_PUT_METRIC_DATA_MAX = 1000
