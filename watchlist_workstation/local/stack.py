"""The local stack: embedded AWS (moto server), the Comprehend-compatible endpoint and the text
source, all on 127.0.0.1, with the stack created from template.yml, its Lambda service playing the
functions, and state kept across restarts (docs/design.md, "Local mode").

One way brings it up, for the CLI, the benches and the tests alike:

    stack = LocalStack(state_dir=..., results_dir=..., parameters={...}).start(lambda_api=True)
    try:
        stack.lambda_service.fire_and_drain()      # the Lambda service (local/lambda_service/), discovered
        stack.text_server.add_page(title, text)    # the local text source (None with online=True)
        stack.comprehend.stats()                   # the Comprehend endpoint's counters
        stack.client("dynamodb"), stack.outputs, stack.endpoints, stack.aws_calls()
    finally:
        stack.stop(save=False)                     # save=True keeps the watchlist and results for next time

Nothing here talks to AWS or (unless `online`) to Wikipedia. Other commands find a running local
stack through `<state dir>/endpoints.json`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lib.clients import READ_TIMEOUT_VARIABLE
from watchlist_workstation.deploy.offline import deploy_offline
from watchlist_workstation.limits import DEFAULT_STACK_NAME, LOCAL_READ_TIMEOUT_SECONDS
from watchlist_workstation.local.saved_state import TABLE_FILE, deployed_outputs, restore, snapshot
from watchlist_workstation.project import COMPANIES_DIR, local_results_dir, work_dir

if TYPE_CHECKING:
    from watchlist_workstation.local.comprehend import ComprehendServer
    from watchlist_workstation.local.lambda_service.invoke_api import InvokeServer
    from watchlist_workstation.local.lambda_service.service import LocalLambda
    from watchlist_workstation.local.notifications import NotificationWatcher
    from watchlist_workstation.local.textserver import TextServer

REGION = "us-east-1"
ARTIFACT_BUCKET = "local-artifacts"
# Fake credentials: moto accepts anything, and real ones must never be sent to an emulator.
FAKE_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
# What local mode deploys with, unless the caller's parameters say otherwise. The local text source has no
# rate limit, so its budget only keeps the pace quick; the contact goes to it alone (a reserved .invalid
# address, RFC 2606). With --online the texts come from the real Wikipedia: the template's own budget
# applies, and the caller must give a real contact (the CLI refuses to start without one).
LOCAL_PARAMETERS = {"UserAgentContact": "local-mode@example.invalid", "WikipediaRequestsPerMinute": "60000"}
# The local text source remembers this many recent requests (a `local up` may run for days).
TEXT_REQUEST_LOG = 10_000


def default_state_dir() -> Path:
    """Where local mode keeps its endpoints file, saved table and function logs (CFCLI_LOCAL_STATE_DIR)."""
    return Path(os.environ.get("CFCLI_LOCAL_STATE_DIR") or work_dir() / ".local-state")


RESULTS_DIR = local_results_dir()
# In the state folder: what the stack's notification topic sent (watchlist_workstation/local/notifications.py).
NOTIFICATIONS_LOG = "notifications.log"


class LocalStackError(RuntimeError):
    """Local mode cannot do what was asked; the message says what to do instead."""


@dataclass(frozen=True)
class Endpoints:
    aws: str
    comprehend: str
    text_source: str
    region: str
    stack_name: str
    pid: int
    # The Lambda API whose Invoke runs the functions (local/lambda_service/invoke_api.py); None until it serves.
    lambda_: str | None = None
    # Where the results are mirrored (`--results-dir`), so teardown --local can remove the mirror.
    results_dir: str | None = None

    def write(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        # Through a temporary file: a command reading it meanwhile never sees half of it.
        partial = state_dir / "endpoints.json.partial"
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        partial.replace(state_dir / "endpoints.json")

    def stack_parameters(self) -> dict[str, str]:
        """The template parameters a stack in this local account needs: texts from the local text source, or
        (online, no text source of ours) the Wikipedia of the stack's LanguageCode."""
        if not self.text_source:
            return {"TextSourceUrl": ""}
        return {"TextSourceUrl": self.text_source, **LOCAL_PARAMETERS}

    def saved_state(self, state_dir: Path) -> list[Path]:
        """What is kept on this machine for the stack: the saved watchlist and the results mirror (only
        its results/ folder, where snapshot() writes: nothing else in a --results-dir is ours)."""
        paths = [state_dir / TABLE_FILE]
        if self.results_dir:
            paths.append(Path(self.results_dir) / "results")
        return paths

    @classmethod
    def read(cls, state_dir: Path) -> Endpoints | None:
        try:
            data = json.loads((state_dir / "endpoints.json").read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(int(data["pid"]), 0)  # is the process that recorded them still alive?
        except (OSError, KeyError, ValueError):
            return None
        return cls(**data)


_SESSIONS: dict[str, boto3.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def local_session(region: str = REGION) -> boto3.session.Session:
    """The process's one session for the local account in `region`, with fake credentials.

    Shared because a session caches the service models it has loaded: a client from a fresh
    session reads its model from disk again (about 0.25 s each, a dozen of them per `local run`).
    A session is not thread-safe, so clients are made under a lock (local_client) or from one thread.
    """
    with _SESSIONS_LOCK:
        if region not in _SESSIONS:
            _SESSIONS[region] = boto3.session.Session(region_name=region, **FAKE_CREDENTIALS)
        return _SESSIONS[region]


def local_client(service: str, endpoint: str, region: str = REGION) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)
    session = local_session(region)
    with _SESSIONS_LOCK:
        return session.client(service, endpoint_url=endpoint, config=config)


class LocalStack:
    """The emulated account, its helpers, the stack and its Lambda service: `start` them, use the public
    handles, `stop` them (see the module docstring)."""

    def __init__(
        self,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        state_dir: Path | None = None,
        results_dir: Path = RESULTS_DIR,
        port: int = 0,
        online: bool = False,
        data_dir: Path = COMPANIES_DIR,
        text_request_log: int | None = TEXT_REQUEST_LOG,
        parameters: dict[str, str] | None = None,
        template_path: Path | None = None,
    ):
        self.stack_name, self.state_dir, self.results_dir = stack_name, state_dir or default_state_dir(), results_dir
        self.port, self.online, self.data_dir = port, online, data_dir
        self.text_request_log = text_request_log
        # Template parameters the stack is created with, over the ones local mode sets (stack_parameters).
        self.parameters = dict(parameters or {})
        # The template the stack is created from (template.yml by default; a test may give an edited copy).
        self.template_path = template_path
        self.outputs: dict[str, str] = {}
        self.endpoints: Endpoints | None = None
        self.restored: dict[str, int] = {}
        self.startup_seconds = 0.0
        self.notifications: NotificationWatcher | None = None  # with start(watch_notifications=True)
        self.lambda_api: InvokeServer | None = None  # with start(lambda_api=True)
        self._moto: Any = None
        self._comprehend: ComprehendServer | None = None
        self._text: TextServer | None = None
        self._lambda: LocalLambda | None = None

    def start(
        self,
        *,
        prepare: Callable[[LocalStack], None] | None = None,
        watch_notifications: bool = False,
        echo: Callable[[str], None] | None = None,
        prewarm: bool = False,
        lambda_api: bool = False,
    ) -> LocalStack:
        """Start everything, in this order, and return the started stack:

        1. the moto process, the Comprehend endpoint and the text source; the stack created from
           template.yml and its saved state restored; endpoints.json written (startup_seconds ends here);
        2. `prepare(stack)`, if given: the CLI seeds an empty watchlist here;
        3. the stack's Lambda service (`lambda_service`), discovered; with `watch_notifications`, what
           the stack's topic sends is kept (`notifications`, printed through `echo`) and CloudWatch's
           alarms are played; with `prewarm`, workers start in the background;
        4. with `lambda_api`, Lambda's API on a loopback port (`lambda_api`), recorded in endpoints.json
           with the results folder: the last thing written, so a reader seeing it knows the stack is ready.

        Anything that fails stops what had started (stop(save=False)) and raises.
        """
        started = time.perf_counter()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._start_servers()
        try:
            self._create_stack()
            self.startup_seconds = time.perf_counter() - started
            if prepare is not None:
                prepare(self)
            self._lambda = self.lambda_service_for()
            self._lambda.discover()
            if watch_notifications:
                self._watch_notifications(echo)
            if prewarm:
                # Workers start in the background (on the other core) while the caller goes on.
                self._lambda.prewarm()
            if lambda_api:
                self._serve_lambda_api()
        except BaseException:
            self.stop(save=False)
            raise
        return self

    def _start_servers(self) -> None:
        from watchlist_workstation.local.comprehend import ComprehendServer
        from watchlist_workstation.local.moto_server.process import MotoProcess
        from watchlist_workstation.local.textserver import TextServer

        # moto boots in its own process (local/moto_server/process.py says why) while the helpers start here.
        self._moto = MotoProcess(port=self.port, log_path=self.state_dir / "moto.log").launch()
        try:
            self._comprehend = ComprehendServer().start()
            if not self.online:
                self._text = TextServer.from_folder(self.data_dir, request_log_size=self.text_request_log).start()
            self._moto.wait_ready()
            self._comprehend.authorize = self._authorize_comprehend
        except BaseException:
            self._stop_servers()
            raise

    def _authorize_comprehend(self, access_key_id: str, action: str) -> str | None:
        """The Comprehend endpoint's question to the emulated account (docs/local-mode.md, "IAM in local mode")."""
        from watchlist_workstation.local.iam.client import decide

        answer = decide(self._moto.url, action=action, resource="*", region=REGION, access_key_id=access_key_id)
        return None if answer.allowed else answer.message

    def _create_stack(self) -> None:
        from watchlist_workstation.local import catalog
        from watchlist_workstation.local.iam import resource_policies

        text_url = self._text.api_url if self._text is not None else ""
        endpoints = Endpoints(self._moto.url, self.comprehend.url, text_url, REGION, self.stack_name, os.getpid())
        cloudformation = local_client("cloudformation", endpoints.aws)
        self.outputs = deploy_offline(
            self.stack_name,
            {**endpoints.stack_parameters(), **self.parameters},
            region=REGION,
            artifact_bucket=ARTIFACT_BUCKET,
            cloudformation=cloudformation,
            s3=local_client("s3", endpoints.aws),
            **({"template_path": self.template_path} if self.template_path else {}),
        )
        # moto's CloudFormation skips bucket and queue policies; IAM in local mode evaluates them.
        resource_policies.apply(
            cloudformation, local_client("s3", endpoints.aws), local_client("sqs", endpoints.aws), self.stack_name
        )
        # Nor does it create the Glue database and table or the Athena workgroup; `query --local` names them.
        catalog.apply(
            cloudformation, local_client("glue", endpoints.aws), local_client("athena", endpoints.aws), self.stack_name
        )
        ddb, s3 = local_client("dynamodb", endpoints.aws), local_client("s3", endpoints.aws)
        self.restored = restore(ddb, s3, self.outputs, self.state_dir, self.results_dir)
        self.endpoints = endpoints
        self.endpoints.write(self.state_dir)

    def lambda_service_for(self, stack_name: str | None = None, *, work_dir: Path | None = None) -> LocalLambda:
        """A Lambda service, not yet discovered, for a stack of this account (this stack by default): the
        account's session, the functions' extra environment, code under `work_dir` (the state folder's
        functions/ by default) and logs in the state folder's logs/. The caller closes one it made;
        start() makes this stack's own (`lambda_service`)."""
        from watchlist_workstation.local.lambda_service.service import LocalLambda

        endpoints = self._require_started()
        return LocalLambda(
            local_session(endpoints.region),
            endpoints.aws,
            stack_name or self.stack_name,
            extra_env=self.function_env(),
            work_dir=work_dir or self.state_dir / "functions",
            log_dir=self.state_dir / "logs",
        )

    def _watch_notifications(self, echo: Callable[[str], None] | None) -> None:
        """Subscribe to the stack's topic, so that what it sends is printed through `echo` and appended to
        notifications_log, and play CloudWatch's alarms (local/notifications.py): on each flush(), or
        in the background once started. The alarms on Lambda's Errors metric count the failed
        invocations of this stack's Lambda service (LocalLambda.errors); those on the consumer's own
        metrics read what local/log_metrics.py extracted from the functions' logs."""
        from watchlist_workstation.local.log_metrics import LogMetrics
        from watchlist_workstation.local.notifications import NotificationWatcher

        aws = self._require_started().aws
        self.notifications = NotificationWatcher(
            lambda service: local_client(service, aws),
            self.stack_name,
            self.notifications_log,
            region=REGION,
            lambda_errors=self.lambda_service.errors,
            echo=echo,
            # The consumer's metrics travel in its log lines, which CloudWatch Logs turns into metrics.
            log_metrics=LogMetrics(local_client("cloudwatch", aws), self.lambda_service.log_dir),
        )
        self.notifications.subscribe()

    def _serve_lambda_api(self) -> None:
        from watchlist_workstation.local.lambda_service.invoke_api import InvokeServer

        endpoints = self._require_started()
        # Lambda's API with an Invoke that runs the function here; other commands reach it with --local.
        self.lambda_api = InvokeServer(self.lambda_service, forward_to=endpoints.aws).start()
        self.endpoints = dataclasses.replace(
            endpoints, lambda_=self.lambda_api.url, results_dir=str(self.results_dir.resolve())
        )
        self.endpoints.write(self.state_dir)

    # -- the public handles -----------------------------------------------------------------------

    @property
    def lambda_service(self) -> LocalLambda:
        """The stack's Lambda service: it invokes the functions, fires the schedule, polls the queue."""
        if self._lambda is None:
            raise LocalStackError("the local stack is not started")
        return self._lambda

    @property
    def comprehend(self) -> ComprehendServer:
        """The local Comprehend endpoint; its stats() count the calls, documents and billed units."""
        if self._comprehend is None:
            raise LocalStackError("the local stack is not started")
        return self._comprehend

    @property
    def text_server(self) -> TextServer | None:
        """The local text source, whose pages can change while the stack runs; None when `online`."""
        return self._text

    def client(self, service: str) -> Any:
        """A client of the emulated account (fake credentials, the account's endpoint)."""
        return local_client(service, self._require_started().aws)

    @property
    def notifications_log(self) -> Path:
        """Where what the stack's topic sends is appended, one JSON line each (watch_notifications)."""
        return self.state_dir / NOTIFICATIONS_LOG

    def aws_calls(self) -> Counter[str]:
        """The AWS requests the emulated account has served so far, by service:operation."""
        if self._moto is None:
            raise LocalStackError("the local stack is not started")
        return self._moto.calls()

    def function_env(self) -> dict[str, str]:
        """What the local account adds to every function's environment: endpoints and fake credentials."""
        endpoints = self._require_started()
        return {
            "AWS_ENDPOINT_URL": endpoints.aws,
            "AWS_ENDPOINT_URL_COMPREHEND": endpoints.comprehend,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # moto is far slower than DynamoDB on a large Scan; see lib/clients.py, READ_TIMEOUT_VARIABLE.
            READ_TIMEOUT_VARIABLE: str(LOCAL_READ_TIMEOUT_SECONDS),
        }

    # -- saving and stopping ----------------------------------------------------------------------

    def save(self) -> dict:
        """Save the stack as deployed now (make-infra --local may have updated or re-created it).

        Nothing is written when the stack is gone: teardown --local removed its saved state, and
        writing it again would bring a torn-down watchlist back on the next start.
        """
        cloudformation = self.client("cloudformation")
        outputs = deployed_outputs(cloudformation, self.stack_name)
        if outputs is None:
            return {"items": 0, "results_mirrored": 0}
        self.outputs = outputs
        try:
            saved = snapshot(self.client("dynamodb"), self.client("s3"), outputs, self.state_dir, self.results_dir)
        except ClientError:
            if deployed_outputs(cloudformation, self.stack_name) is not None:
                raise
            saved = {"items": 0, "results_mirrored": 0}  # torn down while it was being read
        if deployed_outputs(cloudformation, self.stack_name) is None:
            (self.state_dir / TABLE_FILE).unlink(missing_ok=True)  # torn down while it was being written
        return saved

    def _require_started(self) -> Endpoints:
        if self.endpoints is None:
            raise LocalStackError("the local stack is not started")
        return self.endpoints

    def stop(self, *, save: bool = True) -> None:
        """Stop the Lambda API, the Lambda service's workers, the notifications (after their last round),
        save (unless `save` is False) and stop the servers; endpoints.json is removed."""
        try:
            if self.lambda_api is not None:
                self.lambda_api.stop()
            if self._lambda is not None:
                self._lambda.close()
            if self.notifications is not None:
                self.notifications.stop()  # its last round needs the emulator still up
            if save and self.endpoints is not None:
                self.save()
        finally:
            # The emulated account lives in the moto process and ends with it.
            self._stop_servers()
            (self.state_dir / "endpoints.json").unlink(missing_ok=True)

    def _stop_servers(self) -> None:
        for server in (self._text, self._comprehend, self._moto):
            if server is not None:
                server.stop()
