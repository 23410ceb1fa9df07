"""Serve a data folder as the MediaWiki Action API until Ctrl-C or SIGTERM.

    python -m watchlist_workstation.local.textserver --port 8081 [--data data/companies]

serves a folder on 127.0.0.1 until Ctrl-C (or SIGTERM), printing the api.php URL on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from watchlist_workstation.local.textserver.pages import DEFAULT_DATA, DataFolderError, read_folder
from watchlist_workstation.local.textserver.server import TextServer

# A server left running for days must not grow without bound; tests keep every request.
_CLI_REQUEST_LOG_SIZE = 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.local.textserver",
        description="Serve a folder of page intros on 127.0.0.1 as the MediaWiki Action API (api.php).",
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, any free port)")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder of *.json page entries (default: data/companies)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    try:
        pages, redirects = read_folder(args.data)
    except DataFolderError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    server = TextServer(pages, redirects=redirects, port=args.port, request_log_size=_CLI_REQUEST_LOG_SIZE)
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}\n")
        return 1
    # SIGTERM (a supervisor stopping us) ends the server the same orderly way as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # The URL alone on the first line, so a script can read it; then a line for people.
        sys.stderr.write(f"{server.api_url}\n")
        sys.stderr.write(f"serving {len(pages)} pages and {len(redirects)} redirects from {args.data}; Ctrl-C stops\n")
        sys.stderr.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
