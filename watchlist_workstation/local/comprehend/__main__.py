"""Serve local mode's Comprehend endpoint on its own until Ctrl-C: python -m watchlist_workstation.local.comprehend"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from watchlist_workstation.local.comprehend.server import CallRecord, ComprehendServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.local.comprehend",
        description="Serve a local Comprehend sentiment endpoint (VADER) until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--log-calls", action="store_true", help="one line per call on stderr")
    args = parser.parse_args(argv)

    def log_call(record: CallRecord) -> None:
        detail = record.error_code or f"{record.scored}/{record.documents} scored"
        sys.stderr.write(f"{record.operation or '-'} {record.status} {detail} {record.seconds * 1000:.1f} ms\n")

    try:
        server = ComprehendServer(args.host, args.port, on_call=log_call if args.log_calls else None)
    except ValueError as exc:
        parser.error(str(exc))  # a non-loopback host is a usage error: exit 2
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"error: cannot serve on {args.host}:{args.port}: {exc}\n")
        return 1
    stop = threading.Event()
    # SIGTERM (a supervisor stopping us) ends the loop the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    sys.stderr.write(f"local Comprehend listening on {server.url}\n")
    sys.stderr.write(f"  export AWS_ENDPOINT_URL_COMPREHEND={server.url}\n")
    sys.stderr.flush()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    sys.stderr.write(json.dumps(server.stats()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
