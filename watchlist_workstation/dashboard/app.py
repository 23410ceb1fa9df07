"""The Flask app: the results page, one page per company with its history chart, and the JSON API.

The results page reads the watchlist table only; a company page reads its range of the S3 history, and every
answer says how many S3 requests it made in the X-S3-Requests header (`list=<n>, get=<n>`; docs/cli.md, "serve").
Read-only: every route answers GET (and HEAD) only. Failures never show a traceback: an AWS
error becomes a page (or, under /api/, a JSON body) that says what failed and where, with status
502; anything else is logged on the server and answered with a short 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, render_template, request
from werkzeug.exceptions import HTTPException

from lib.log import get_logger
from watchlist_workstation.analysis.dataset import format_time
from watchlist_workstation.analysis.partitions import RequestCount
from watchlist_workstation.dashboard.chart import history_svg
from watchlist_workstation.dashboard.data import SCORE_COLUMNS, History, ResultsData, records

log = get_logger("dashboard")

S3_REQUESTS_HEADER = "X-S3-Requests"
# The widest history a page may ask for with ?days= (ten years of day partitions).
MAX_DAYS = 3660

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

    def unavailable_because(exc: Exception, where: str) -> DataUnavailable | None:
        """The readable error an AWS error becomes; None for anything else (a bug: it is raised as it is)."""
        message = explain(exc)
        return None if message is None else DataUnavailable(f"could not read {where}: {message}")

    def from_table(read: Callable[[], Any]) -> Any:
        """What `read` reads of the table; its AWS errors name the table."""
        try:
            return read()
        except Exception as exc:
            readable = unavailable_because(exc, data.table_location)
            if readable is None:
                raise
            raise readable from exc

    def snapshot():
        g.s3_requests = RequestCount()  # the latest view reads the table only
        return from_table(data.snapshot)

    def days_asked() -> int | None:
        text = request.args.get("days")
        if text is None:
            return None
        if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
            abort(400, description=f"days must be a whole number from 1 to {MAX_DAYS}, not {text!r}")
        return int(text)

    def history_of(name: str) -> History:
        """The company's history in its range; 404 when the range holds none of its rows."""
        days = days_asked()
        g.s3_requests = RequestCount()  # until the history is read
        company = from_table(lambda: data.company(name))  # its spelling, added date and recent keys
        try:
            history = data.history(company, days)
        except Exception as exc:
            readable = unavailable_because(exc, f"the results at {data.location}")
            if readable is None:
                raise
            raise readable from exc
        g.s3_requests = history.counts
        if history.rows.empty:
            since = f" since {history.first_day.isoformat()}" if history.first_day else ""
            wider = "; ?days=N reads the last N days" if days is None else ""
            abort(404, description=f"no results for {name!r} in {data.location}{since}{wider}")
        return history

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        counts = g.get("s3_requests")
        if counts is not None:
            response.headers[S3_REQUESTS_HEADER] = counts.header()
        return response

    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {
            "location": data.location,
            "table": data.table,
            "scores": SCORE_COLUMNS,
            "format_time": format_time,
            "safe_link": safe_link,
        }

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
            not_analysed=len(current.watchlist.not_analysed),
            read_at=format_time(current.read_at),
        )

    @app.get("/companies/<path:name>")
    def company(name: str):
        history = history_of(name)
        rows = history.rows
        chart = history_svg(rows, title=f"{history.name}: sentiment scores over time")
        return render_template(
            "company.html",
            name=history.name,
            chart=chart,
            rows=rows.iloc[::-1].to_dict("records"),  # newest first in the table
            first_day=history.first_day,
            days=request.args.get("days"),
            requests=history.counts,
            skipped=history.skipped,
        )

    @app.get("/api/results")
    def api_results():
        current = snapshot()
        latest = current.latest()
        return pretty_json(
            {
                "location": data.location,
                "table": data.table,
                "read_at": format_time(current.read_at),
                "companies": len(latest),
                "not_analysed": current.watchlist.not_analysed,
                "results": records(latest),
                "s3_requests": g.s3_requests.as_dict(),
            }
        )

    @app.get("/api/companies/<path:name>")
    def api_company(name: str):
        history = history_of(name)
        rows = records(history.rows, with_text=True)
        return pretty_json(
            {
                "name": history.name,
                "latest": rows[-1],
                "history": rows,
                "first_day": history.first_day.isoformat() if history.first_day else None,
                "s3_requests": history.counts.as_dict(),
                "skipped": [{"key": key, "reason": reason} for key, reason in history.skipped],
            }
        )

    return app
