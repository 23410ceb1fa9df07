"""One Lambda execution environment for local mode: a worker process that runs one function's handler.

A Worker (workers.py) starts it as

    python -m watchlist_workstation.local.lambda_service.runtime --function NAME
        --handler lambda_function.lambda_handler --task-root CODE_DIR [--layer LAYER_DIR ...]
        --fallback PROJECT_ROOT --in-fd N --out-fd M

with cwd = CODE_DIR and the function's environment, and talks to it over two pipes (JSON lines):

    worker -> parent, once:   {"ready": true, "pid": 123, "init_ms": 180.5}
                          or  {"ready": false, "error": {"errorType": ..., "errorMessage": ..., ...}}
    parent -> worker:         {"op": "invoke", "request_id": ..., "deadline_ms": ..., "invoked_function_arn": ...,
                               "event": {...}}
    worker -> parent:         {"ok": true, "payload": <the handler's return value>}
                          or  {"ok": false, "error": {"errorType": ..., "errorMessage": ..., "stackTrace": [...]}}
    parent -> worker:         {"op": "inspect", "modules": ["lib", ...]}
    worker -> parent:         {"sys_path": [...], "cwd": ..., "pid": ..., "modules": {"lib": "/origin/of/lib"}}

The protocol has its own file descriptors because stdout and stderr belong to the handler: they
go to the function's log file, as a Lambda function's output goes to CloudWatch Logs.

Like Lambda's Python runtime (awslambdaric) this process imports the handler module once (the
init phase), then serves one invocation at a time for as long as the parent keeps it; the
parent, not this process, enforces the function's timeout by killing it. Only the standard
library is imported here, so nothing of this module can shadow what the function's code and
layers provide.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import math
import os
import resource
import sys
import time
import traceback
from typing import Any

# What Lambda's Python runtime reports for failures that are not the handler's own exception.
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
MARSHAL_ERROR = "Runtime.MarshalError"
MALFORMED_HANDLER = "Runtime.MalformedHandlerName"

_current_request_id: str | None = None


class LambdaContext:
    """The context object Lambda's Python runtime passes to the handler (same attribute names).

    memory_limit_in_mb is a string, as in awslambdaric, which reads it from
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE without converting it.
    """

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def _install_root_log_handler() -> None:
    """The handler Lambda's runtime puts on the root logger, with its line format.

    Code that logs through the root logger (or propagates to it) prints there in Lambda too; the
    pipeline's own logger does not propagate (lib/log.py), so its lines are not doubled, here as there.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n")
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    if exc is not None:
        error["stackTrace"] = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return error


def _log_error(error: dict[str, Any]) -> None:
    """The line Lambda writes for an unhandled error: "[ERROR] Type: message" and the traceback."""
    lines = [f"[ERROR] {error['errorType']}: {error['errorMessage']}"]
    if error.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in error["stackTrace"])
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def build_sys_path(task_root: str, layers: list[str], fallback: str | None, current: list[str]) -> list[str]:
    """The import path of the function: its code, then its layers, then the interpreter's own
    directories (standard library and the site-packages that play the runtime's boto3), and the
    project root last.

    Each layer contributes `python/` and `python/lib/python3.X/site-packages/`, the two folders
    Lambda's Python runtime searches under /opt. The Worker passes layers later-first: Lambda
    extracts layers into /opt in order, so on a clash the later layer's file wins, and here the
    first match on sys.path wins.

    The project root is a fallback for a shared layer that was not built (watchlist_workstation/deploy/offline.py
    then ships it empty): last, so a built layer always takes precedence over the source tree.
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    path = [task_root]
    for layer in layers:
        path.append(layer)
        site = os.path.join(layer, "lib", version, "site-packages")
        if os.path.isdir(site):
            path.append(site)
    skip = {task_root, "", os.getcwd(), *(p for p in (fallback,) if p)}
    path.extend(p for p in current if p not in skip and p not in path)
    if fallback:
        path.append(fallback)
    return path


def _forget_bootstrap_modules() -> None:
    """`python -m watchlist_workstation.local.lambda_service.runtime` imported the project's packages on its
    way to this module; the function must import `lib` from its own layer, never get the project's copy."""
    for name in [n for n in sys.modules if n == "lib" or n.startswith("lib.")]:
        del sys.modules[name]


def load_handler(handler: str) -> Any:
    """Import the handler module and find the function, raising (error_type, message) as Lambda names them."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise _InitError(MALFORMED_HANDLER, f"Bad handler '{handler}': not enough values to unpack")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except SyntaxError as exc:
        raise _InitError(SYNTAX_ERROR, f"Syntax error in module '{module_name}': {exc}", exc) from exc
    except ImportError as exc:
        raise _InitError(IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}", exc) from exc
    except Exception as exc:  # an exception raised by the module's top-level code
        raise _InitError(type(exc).__name__, str(exc), exc) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise _InitError(HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'")
    return function


class _InitError(Exception):
    def __init__(self, error_type: str, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.error = _error(error_type, message, cause)


def _invoke(function: Any, request: dict[str, Any]) -> str:
    """Run the handler once; the reply line, already JSON."""
    global _current_request_id
    request_id = request["request_id"]
    _current_request_id = request_id
    context = LambdaContext(request_id, int(request["deadline_ms"]), request.get("invoked_function_arn", ""))
    try:
        result = function(request.get("event"), context)
    except Exception as exc:
        # Lambda reports the exception's class name and message, and logs the traceback.
        error = _error(type(exc).__name__, str(exc), exc)
        error["requestId"] = request_id
        _log_error(error)
        return json.dumps({"ok": False, "error": error})
    finally:
        _current_request_id = None
    try:
        payload = json.dumps(result)
    except (TypeError, ValueError) as exc:
        error = _error(MARSHAL_ERROR, f"Unable to marshal response: {exc}")
        error["requestId"] = request_id
        _log_error(error)
        return json.dumps({"ok": False, "error": error})
    return '{"ok": true, "payload": ' + payload + "}"


def _inspect(request: dict[str, Any]) -> str:
    """Where this environment imports from: the import path, and each named module's origin."""
    origins: dict[str, str | None] = {}
    for name in request.get("modules", []):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            origins[name] = None
        else:
            origins[name] = spec.origin or (list(spec.submodule_search_locations or []) or [None])[0]
    return json.dumps({"sys_path": sys.path, "cwd": os.getcwd(), "pid": os.getpid(), "modules": origins})


def _platform_line(text: str) -> None:
    # The START/END/REPORT lines Lambda's platform adds to the function's log stream.
    sys.__stdout__.write(text + "\n")
    sys.__stdout__.flush()


def serve(args: argparse.Namespace) -> int:
    requests = os.fdopen(args.in_fd, "rb")
    replies = os.fdopen(args.out_fd, "wb")

    def reply(line: str) -> None:
        replies.write(line.encode("utf-8") + b"\n")
        replies.flush()

    started = time.perf_counter()
    _forget_bootstrap_modules()
    # PYTHONPATH only carried the bootstrap (finding this module); the function's code must not see it.
    os.environ.pop("PYTHONPATH", None)
    sys.path[:] = build_sys_path(args.task_root, args.layer, args.fallback, sys.path)
    # Handler output goes to a log file; line buffering keeps each line whole and promptly visible.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _install_root_log_handler()
    try:
        function = load_handler(args.handler)
    except _InitError as exc:
        _log_error(exc.error)
        reply(json.dumps({"ready": False, "error": exc.error}))
        return 1
    init_ms = (time.perf_counter() - started) * 1000
    reply(json.dumps({"ready": True, "pid": os.getpid(), "init_ms": init_ms}))

    first = True
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "?")
    for line in requests:
        request = json.loads(line)
        op = request.get("op")
        if op == "inspect":
            reply(_inspect(request))
            continue
        if op != "invoke":
            reply(json.dumps({"ok": False, "error": _error("Runtime.InvalidRequest", f"unknown op {op!r}")}))
            continue
        request_id = request["request_id"]
        _platform_line(f"START RequestId: {request_id} Version: {os.environ.get('AWS_LAMBDA_FUNCTION_VERSION')}")
        began = time.perf_counter()
        answer = _invoke(function, request)
        duration = (time.perf_counter() - began) * 1000
        _platform_line(f"END RequestId: {request_id}")
        # ru_maxrss is in KiB on Linux.
        used_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {math.ceil(duration)} ms"
            f"\tMemory Size: {memory} MB\tMax Memory Used: {used_mb} MB"
        )
        if first:
            report += f"\tInit Duration: {init_ms:.2f} ms"
            first = False
        _platform_line(report)
        reply(answer)
    # The parent closed the pipe: this environment is shut down. Lambda ends an environment without
    # the interpreter's teardown (no atexit handlers run there), and skipping it here saves about a
    # second per worker; the log lines are flushed first.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watchlist_workstation.local.lambda_service.runtime", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--function", required=True, help="the function's name (shown in ps, for people)")
    parser.add_argument("--handler", required=True)
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--layer", action="append", default=[], help="a layer's python/ folder, later layers first")
    parser.add_argument("--fallback", default=None, help="appended to sys.path last")
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
