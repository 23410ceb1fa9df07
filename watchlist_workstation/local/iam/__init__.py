"""IAM in local mode: the emulated account refuses what the functions' roles do not grant.

    policy.py      the evaluator: identity and resource-based policies, Allow/Deny, wildcards, conditions
    requests.py    a request's (action, resource ARN) pairs, for the operations local mode authorises
    errors.py      each service's access denied answer, in its protocol's shape
    account.py     moto's IAM, STS, S3 and SQS state, read in the moto server process
    middleware.py  the WSGI layer in the moto server process, and its loopback authorisation endpoint
    client.py      what the other parts of local mode ask that endpoint

How it fits together, and what is not emulated: docs/local-mode.md, "IAM in local mode".
"""
