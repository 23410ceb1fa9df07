"""Workstation-only local mode: runs the stack offline on one machine. Never shipped to Lambda.

The design is docs/design.md, "Local mode"; how the parts fit:

    stack.py          LocalStack: the one way to start a local stack (account, helpers, stack, Lambda service)
    saved_state.py    the watchlist and results kept across restarts
    run_record.py     what one tick of a running stack did, for `cost --from-local-run`
    moto_server/      the emulated AWS: a moto process behind waitress, and the patches it applies to moto
    lambda_service/   Lambda and EventBridge's scheduler, played: LocalLambda, its workers, the Lambda API
    comprehend/       the Comprehend-compatible endpoint, scored by VADER
    textserver/       the text source: Wikipedia's page summary endpoint over data/companies/
    loopback.py       the loopback HTTP server the Comprehend endpoint, text source and Lambda API share
    alarms.py         CloudWatch's alarms, evaluated; notifications.py what the stack's topic sends

Local mode may import watchlist_workstation.cost (the billing units, the run record's format); the
cost model never imports local mode.
"""
