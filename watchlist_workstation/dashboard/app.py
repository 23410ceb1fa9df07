"""The Flask app: the results page, one page per company with its history chart, and the JSON API.

Read-only: every route answers GET (and HEAD) only. Failures never show a traceback: an AWS
error becomes a page (or, under /api/, a JSON body) that says what failed and where, with status
502; anything else is logged on the server and answered with a short 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, render_template, request
from werkzeug.exceptions import HTTPException

from lib.log import get_logger
from watchlist_workstation.analysis.dataset import format_time
from watchlist_workstation.dashboard.chart import history_svg
from watchlist_workstation.dashboard.data import SCORE_COLUMNS, ResultsData, records

log = get_logger("dashboard")

# No script, no frames, nothing from elsewhere: styles and images come from this server only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # A click on a source link must not tell the other site where this dashboard runs.
    "Referrer-Policy": "no-referrer",
}


class DataUnavailable(Exception):
    """The dataset could not be read; the message says why in one line."""


def safe_link(url: str) -> str | None:
    """The URL when it is a plain web link; None for anything else (javascript:, data:, relative, empty)."""
    parts = urlsplit(url or "")
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def pretty_json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return Response(body, status=status, mimetype="application/json")


def create_app(data: ResultsData, *, explain: Callable[[BaseException], str | None]) -> Flask:
    """The dashboard over `data`; `explain(exc)` turns an AWS error into one line (None: not an AWS error)."""
    app = Flask(__name__)

    def snapshot():
        try:
            return data.snapshot()
        except Exception as exc:
            message = explain(exc)
            if message is None:
                raise
            raise DataUnavailable(f"could not read the results at {data.location}: {message}") from exc

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {"location": data.location, "scores": SCORE_COLUMNS, "format_time": format_time, "safe_link": safe_link}

    def wants_json() -> bool:
        return request.path.startswith("/api/")

    @app.errorhandler(DataUnavailable)
    def unavailable(exc: DataUnavailable):
        log.warning("results unavailable", extra={"reason": str(exc)})
        if wants_json():
            return pretty_json({"error": str(exc)}, 502)
        return render_template("message.html", heading="Results unavailable", message=str(exc)), 502

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            return pretty_json({"error": exc.description}, exc.code or 500)
        return render_template("message.html", heading=exc.name, message=exc.description), exc.code

    @app.errorhandler(Exception)
    def internal_error(exc: Exception):
        # The traceback goes to the server's log only; the browser gets a line it can act on.
        log.exception("dashboard request failed", extra={"path": request.path})
        message = "the dashboard hit an internal error; the server's log (stderr) has the details"
        if wants_json():
            return pretty_json({"error": message}, 500)
        return render_template("message.html", heading="Internal error", message=message), 500

    @app.get("/")
    def index():
        current = snapshot()
        latest = current.latest()
        counts = latest["sentiment"].value_counts().to_dict() if not latest.empty else {}
        return render_template(
            "index.html",
            rows=latest.to_dict("records"),
            counts=counts,
            analyses=len(current.rows),
            read_at=format_time(current.read_at),
            skipped=current.skipped,
        )

    def history_of(name: str):
        """The current snapshot and the company's rows; 404 when it has none."""
        current = snapshot()
        history = current.history(name)
        if history.empty:
            abort(404, description=f"no results for {name!r} in {data.location}")
        return current, history

    @app.get("/companies/<path:name>")
    def company(name: str):
        current, history = history_of(name)
        shown = history.iloc[-1]["name"]
        chart = history_svg(history, title=f"{shown}: sentiment scores over time")
        rows = history.iloc[::-1].to_dict("records")  # newest first in the table
        return render_template("company.html", name=shown, chart=chart, rows=rows, read_at=format_time(current.read_at))

    @app.get("/api/results")
    def api_results():
        current = snapshot()
        latest = current.latest()
        return pretty_json(
            {
                "location": data.location,
                "read_at": format_time(current.read_at),
                "companies": len(latest),
                "results": records(latest),
                "skipped": [{"key": key, "reason": reason} for key, reason in current.skipped],
            }
        )

    @app.get("/api/companies/<path:name>")
    def api_company(name: str):
        _, history = history_of(name)
        rows = records(history, with_text=True)
        return pretty_json({"name": rows[-1]["name"], "latest": rows[-1], "history": rows})

    return app
