"""Local mode's embedded AWS: a moto server in a process of its own, and the patches it applies to moto.

    process.py        MotoProcess: starts `python -m watchlist_workstation.local.moto_server`, waits for it, stops it
    __main__.py       the server process: the patches, then moto behind waitress and the request counter
    counting.py       the request counter (GET /_local/calls)
    version.py        the one moto version every patch was written against, and the check each makes
    swaps.py          what a patch replaced, so it applies once and can be put back
    sqs_patch.py      SQS: cheap and thread-safe on a deep queue
    ddb_patch.py      DynamoDB: the consumer's UpdateItem without moto's repeated parsing
    ddb_reads.py      DynamoDB: a Scan's projection and answer without moto's per-value round trips
    fixes.py          CloudFormation: Ref of a layer version, and a model for CloudWatch alarms
    lookup_caches.py  moto's per-request listings of its modules and response methods, done once
    untracked_models.py  moto's list of every model object it ever made (every copy a Scan returned), kept no more

Only process.py (and counting.py) are imported by the process that runs a local stack; moto itself and
the patches are imported in the server process (docs/design.md, "Local mode").
"""
