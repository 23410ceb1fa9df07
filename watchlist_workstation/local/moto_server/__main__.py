"""The moto server process of local mode (see watchlist_workstation/local/moto_server/process.py for why).

    python -m watchlist_workstation.local.moto_server [--host 127.0.0.1] [--port 0]

prints `READY <port>` on stdout once it serves, and exits when its stdin closes (so it never
outlives the local stack that started it, even after a crash) or on SIGTERM. Before serving it
puts IAM in front of moto (watchlist_workstation/local/iam/middleware.py) and applies this
package's patches to moto (sqs_patch, ddb_patch, ddb_reads, fixes, lookup_caches, untracked_models), each of which
refuses a moto other than the one they were written against (version.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings

# waitress's worker threads: enough for every concurrent caller of a local run (pollers, consumer
# instances with their parallel writes, the CLI) to be served, not queued; idle ones cost nothing.
SERVER_THREADS = 16
CONNECTION_LIMIT = 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.local.moto_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    import waitress
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from watchlist_workstation.local.iam.account import MotoAccount
    from watchlist_workstation.local.iam.middleware import IamApp
    from watchlist_workstation.local.moto_server import (
        ddb_patch,
        ddb_reads,
        fixes,
        lookup_caches,
        sqs_patch,
        untracked_models,
    )
    from watchlist_workstation.local.moto_server.counting import CountingApp

    for patch in (sqs_patch, ddb_patch, ddb_reads, fixes, lookup_caches, untracked_models):
        patch.apply()
    # moto's notes on resource types it skips, and waitress's on a queue of waiting requests (a
    # busy moment, not a fault), would only fill the log.
    for name in ("moto", "waitress", "waitress.queue"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)

    # Every request signed with a function role's key is authorised first (docs/local-mode.md, "IAM in local mode").
    app = CountingApp(IamApp(DomainDispatcherApplication(create_backend_app), MotoAccount()))
    server = waitress.create_server(
        app,
        host=args.host,
        port=args.port,
        threads=SERVER_THREADS,
        connection_limit=CONNECTION_LIMIT,
        asyncore_use_poll=True,  # no select() limit on descriptors
        ident="moto (local mode)",
    )

    def stop(*_: object) -> None:
        raise SystemExit(0)  # in the main thread: waitress's loop catches it and shuts its threads down

    signal.signal(signal.SIGTERM, stop)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: whoever started this process is gone or asked it to stop
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    sys.stdout.write(f"READY {server.effective_port}\n")
    sys.stdout.flush()
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
