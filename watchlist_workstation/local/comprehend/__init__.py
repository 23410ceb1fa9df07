"""A loopback Amazon Comprehend sentiment endpoint backed by a real local model (VADER).

Local mode points `AWS_ENDPOINT_URL_COMPREHEND` here, so the handlers' unchanged boto3
calls reach it (docs/design.md, "Local mode": moto's Comprehend has no BatchDetectSentiment).

    with ComprehendServer() as server:
        os.environ["AWS_ENDPOINT_URL_COMPREHEND"] = server.url
        ...
        print(server.stats())  # {"calls": {...}, "documents_scored": n, "characters": c, "billed_units": u, ...}

    python -m watchlist_workstation.local.comprehend --port 4599   # serves until Ctrl-C, URL on stderr

    protocol.py   the wire: Comprehend's JSON protocol, its validation and error codes (what is answered)
    scoring.py    the model: VADER's scores mapped to Comprehend's four (how a text is scored)
    server.py     ComprehendServer: the loopback HTTP server, its counters and on_call hook
    __main__.py   the command line above
"""

from watchlist_workstation.local.comprehend.protocol import ComprehendError
from watchlist_workstation.local.comprehend.scoring import SCORED_CHARS, score_text, sentiment_from_vader
from watchlist_workstation.local.comprehend.server import CallRecord, ComprehendServer

__all__ = ["SCORED_CHARS", "CallRecord", "ComprehendError", "ComprehendServer", "score_text", "sentiment_from_vader"]
