"""Service limits and batch sizes that the functions work by: the one place each number lives.

The code batches by these constants and the cost estimate reads them, so the two cannot drift
apart. Limits only the workstation needs (the build, local mode, the cost model, the CLI) live in
watchlist_workstation/limits.py, so they do not ship into every function.
"""

# SQS SendMessageBatch takes at most 10 entries (SQS API reference, SendMessageBatch).
SQS_SEND_BATCH = 10
# A failed SendMessageBatch entry is retried this many times before it is counted as lost.
SQS_SEND_ATTEMPTS = 3

# Comprehend BatchDetectSentiment: at most 25 documents, each at most 5,000 UTF-8 bytes
# (Comprehend developer guide, "Guidelines and quotas"). Its API reference for the Text parameter says
# it "performs real-time sentiment analysis on the first 500 characters of the input text and ignores
# any additional text", so only those are sent: the score is the same, and the bill (per 100
# characters sent) is at most 5 units a document instead of 50.
COMPREHEND_BATCH = 25
COMPREHEND_MAX_DOC_BYTES = 5000
COMPREHEND_SCORED_CHARS = 500

# The producer scans the watchlist in this many parallel segments (DynamoDB developer guide, "Parallel
# scan"): 100,000 items of a few hundred bytes are about 30 pages of 1 MB, which four readers get
# through in a few seconds of the producer's minute.
SCAN_SEGMENTS = 4

# DynamoDB BatchGetItem reads at most 100 keys, BatchWriteItem writes at most 25 items.
DDB_BATCH_GET = 100
DDB_BATCH_WRITE = 25

# A company name longer than this is refused (by the CLI and again by the consumer).
MAX_NAME_CHARS = 255

# MediaWiki Action API (mediawiki.org, API:Query and Extension:TextExtracts): at most 50 titles a
# request for clients without higher limits, and at most 20 intro extracts a request (exlimit's
# maximum). A work message carries as many companies as one revision request can check.
WIKI_TITLES_PER_QUERY = 50
WIKI_EXTRACTS_PER_QUERY = 20
CHUNK_COMPANIES = WIKI_TITLES_PER_QUERY
# maxlag=5: the value Manual:Maxlag_parameter recommends for non-interactive clients.
WIKI_MAXLAG_SECONDS = 5
# Wikimedia's rate-limit best practices: at most 3 requests in flight at once. Each consumer instance
# sends in series, so the event source mapping's MaximumConcurrency (at least 2) may not exceed this.
WIKI_MAX_IN_FLIGHT = 3

# Text source: timeouts (seconds) and how long a Retry-After may make us wait before we
# hand the record back to the queue instead.
TEXT_CONNECT_TIMEOUT = 3.05
TEXT_READ_TIMEOUT = 10.0
TEXT_MAX_ATTEMPTS = 4
TEXT_MAX_RETRY_AFTER = 10.0
TEXT_MAX_BODY_BYTES = 1_048_576

# SNS Publish: a Subject of at most 100 ASCII printable characters, a message of at most 256 KiB
# (SNS API reference, Publish). A label-change message lists this many companies at most and stays far
# below the size limit either way; the rest is summed up as "and N more".
SNS_SUBJECT_MAX_CHARS = 100
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
# Table writes (consumer): one UpdateItem per analysed company, a round trip each; in parallel a
# batch's writes take about as long as its slowest instead of the sum (shorter, cheaper invocations).
WRITE_WORKERS = 4

# CloudWatch's embedded metric format (CloudWatch user guide, "Specification: Embedded metric format"): a
# dimension set holds at most 30 dimension keys, a metric directive at most 100 metrics (lib/metrics.py).
EMF_MAX_DIMENSIONS = 30
EMF_MAX_METRICS = 100

# The invocation's deadline (docs/design.md rule 11). Every call to AWS has a 2 s connect timeout and a read
# timeout of 10 s or the time left before the deadline after connecting, whichever is shorter; an attempt
# starts only with time for its connect and a read of at least AWS_MIN_READ_TIMEOUT. Comprehend scores 25
# short documents in well under a second; the other calls move a few KB to 1 MB.
AWS_CONNECT_TIMEOUT = 2.0
AWS_READ_TIMEOUT = 10.0
AWS_MIN_READ_TIMEOUT = 1.0
AWS_MIN_ATTEMPT_SECONDS = AWS_CONNECT_TIMEOUT + AWS_MIN_READ_TIMEOUT
# botocore's max_attempts in standard retry mode: retries after the first attempt. Comprehend throttles first,
# so it gets more.
AWS_MAX_ATTEMPTS = 5
COMPREHEND_MAX_ATTEMPTS = 8
# Kept back from the invocation's remaining time for returning the answer to Lambda.
DEADLINE_MARGIN_SECONDS = 1.0
# The consumer's phases: the records (table writes, then the results object) may start until the deadline;
# Comprehend must be done RECORD_RESERVE earlier, and the text source (and the table reads before it)
# TEXT_RESERVE earlier still, which leaves Comprehend 10 s.
RECORD_RESERVE_SECONDS = 10.0
TEXT_RESERVE_SECONDS = 20.0
# The producer's scan stops this long before its deadline, so the sends have time.
SEND_RESERVE_SECONDS = 15.0

# The results dataset (docs/dataset.md). A row is written only by an invocation that analysed it during its
# day (its partition is the day of analyzed_at), and a consumer invocation lasts at most its Timeout (120 s,
# template.yml): day D's last row is written by D+1 00:02 UTC. An hour's margin on top covers a slow S3 write
# and any clock skew between the functions, so day D counts as finished at D+1 01:00 UTC.
FINISHED_AFTER_SECONDS = 3600
# Compaction (lib/compaction.py): a day's rows go into one compacted object per COMPACTION_TARGET_BYTES of
# JSON Lines (before gzip), at least 1 and at most lib.dataset_layout.MAX_OBJECTS_PER_DAY objects. A company's
# page reads one object a day (dataset_layout.bucket_of), so the target bounds what that page reads per day
# (about 1 MiB gzip'd) while a day of 1,000 companies (about 7 MiB) stays in one or two objects.
COMPACTION_TARGET_BYTES = 4 * 1024 * 1024
# The schedule's run compacts the finished days of this many days back that still have batch objects the
# day's manifest does not hold; older days are compacted on request (./cfcli.py compact --all-finished).
COMPACTION_LOOKBACK_DAYS = 7
# GetObject calls in flight at once while a day's objects are read (a few KB each: round trips dominate).
COMPACTION_READ_WORKERS = 8
# Days of a company's results objects its table item keeps (lib/state.py, recent_results), counted back from
# its latest analysis: yesterday is not finished until shortly after midnight, compaction folds it the night
# after, and one failed nightly run can be run again the next night, all before a company's page would have
# to read a day whole (docs/dataset.md, "Where a company's history comes from").
RECENT_RESULTS_DAYS = 3
