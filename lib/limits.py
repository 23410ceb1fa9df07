"""Service limits and batch sizes: the one place each number lives.

The code batches by these constants and the cost estimate reads them, so the two
cannot drift apart.
"""

# SQS SendMessageBatch takes at most 10 entries (SQS API reference, SendMessageBatch).
SQS_SEND_BATCH = 10
# A failed SendMessageBatch entry is retried this many times before it is counted as lost.
SQS_SEND_ATTEMPTS = 3
# ReceiveMessage returns at most 10 messages and DeleteMessageBatch takes at most 10 entries (SQS API
# reference): Lambda's event source mapping gathers a batch and deletes it within these limits.
SQS_RECEIVE_MAX = 10
SQS_DELETE_BATCH = 10

# Comprehend BatchDetectSentiment: at most 25 documents, each at most 5,000 UTF-8 bytes
# (Comprehend developer guide, "Guidelines and quotas"). Comprehend scores only the
# first 500 characters of a document for sentiment, so cutting at 5,000 bytes loses nothing.
COMPREHEND_BATCH = 25
COMPREHEND_MAX_DOC_BYTES = 5000
# Comprehend bills sentiment in units of 100 characters with a 3-unit minimum per document.
COMPREHEND_UNIT_CHARS = 100
COMPREHEND_MIN_UNITS = 3

# DynamoDB BatchGetItem reads at most 100 keys, BatchWriteItem writes at most 25 items.
DDB_BATCH_GET = 100
DDB_BATCH_WRITE = 25

# A company name longer than this is refused (by the CLI and again by the consumer).
MAX_NAME_CHARS = 255

# Text source: timeouts (seconds) and how long a Retry-After may make us wait before we
# hand the record back to the queue instead.
TEXT_CONNECT_TIMEOUT = 3.05
TEXT_READ_TIMEOUT = 10.0
TEXT_MAX_ATTEMPTS = 4
TEXT_MAX_RETRY_AFTER = 10.0
TEXT_MAX_BODY_BYTES = 1_048_576
TEXT_MAX_REDIRECTS = 5

# Lambda's limit on a function's code plus all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000

# Reading results "since" a time: a row sits in the partition of its batch's earliest requested_at, which can be
# older than its analyzed_at by as long as a message may wait on the work queue (SQS's default retention, 4 days,
# which the template keeps). Partitions this many days before the requested date are read too, and rows are then
# filtered by analyzed_at. (A message redriven from the dead-letter queue can be older still.)
RESULTS_PARTITION_LOOKBACK_DAYS = 4

# S3 DeleteObjects removes at most 1,000 keys (or versions) per request (S3 API reference, DeleteObjects).
S3_DELETE_BATCH = 1000

# Lambda's longest function timeout (15 minutes): a synchronous Invoke may take this long to answer.
LAMBDA_MAX_TIMEOUT_SECONDS = 900

# SNS Publish: a Subject of at most 100 ASCII printable characters, a message of at most 256 KiB
# (SNS API reference, Publish). A label-change message lists this many companies at most and stays far
# below the size limit either way; the rest is summed up as "and N more".
SNS_SUBJECT_MAX_CHARS = 100
SNS_MESSAGE_MAX_BYTES = 262_144
NOTIFY_MAX_LISTED = 50
NOTIFY_MAX_MESSAGE_BYTES = 32_768

# Handed-back records named in the consumer's one warning line per batch (the rest are counted).
LOG_MAX_LISTED = 100

# Calls in flight at once, here so that the cost model reads them without importing the handlers' code.
# SendMessageBatch (producer): one after another, each waits a round trip (10-20 ms on AWS), and
# 10,000 companies are 1,000 calls, most of the function's 60 s when SQS is slow; a few in parallel
# keep a large watchlist well inside it. The scan is read only as far as the sends have got
# (lib.concurrency.in_parallel), so memory stays flat however long the watchlist.
SEND_WORKERS = 4
# Text fetches (consumer) wait on the network, not the CPU; a few in parallel keep a batch of 25
# well under the timeout.
FETCH_WORKERS = 8
# Table writes (consumer): one UpdateItem per analysed company, a round trip each; in parallel a
# batch's writes take about as long as its slowest instead of the sum (shorter, cheaper invocations).
WRITE_WORKERS = 4
