"""What every command shares: the AWS session, the stack's outputs, errors and output helpers.

Commands raise CliError for an expected failure; the group turns it, and the AWS
SDK's own "no credentials / no region / no such profile" errors, into one line
on stderr and exit status 1 (click's usage errors keep status 2).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import click
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from watchlist_workstation.limits import DEFAULT_STACK_NAME

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


class CliError(click.ClickException):
    """An expected failure: one readable line, exit status 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class StackNotFound(CliError):
    pass


@dataclass
class AppContext:
    stack_name: str = DEFAULT_STACK_NAME
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    verbose: bool = False
    # --local: talk to the local stack `./cfcli.py local up` runs (its endpoints file says where).
    local: bool = False
    _session: Any = field(default=None, repr=False)
    # With --local: the running local stack's endpoints (watchlist_workstation.local.stack.Endpoints), and the services
    # whose endpoint is not the emulated account's (Lambda: Invoke must run code, which moto cannot).
    _local_endpoints: Any = field(default=None, repr=False)
    _service_endpoints: dict[str, str | None] = field(default_factory=dict, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _outputs: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def with_session(cls, session: boto3.session.Session, *, stack_name: str, endpoint_url: str | None) -> AppContext:
        """A context whose clients come from `session` at `endpoint_url` (local run --once shows its results
        through the results command this way, with the local account's session and fake credentials)."""
        return cls(stack_name=stack_name, region=session.region_name, endpoint_url=endpoint_url, _session=session)

    # ---------------------------------------------------------------- AWS access
    def session(self) -> boto3.session.Session:
        if self._session is None and self.local:
            from watchlist_workstation.local.stack import Endpoints, default_state_dir, local_session

            endpoints = Endpoints.read(default_state_dir())
            if endpoints is None:
                raise CliError("no local stack is running: start one with './cfcli.py local up'")
            self.endpoint_url = endpoints.aws
            self._local_endpoints = endpoints
            self._service_endpoints = {"lambda": endpoints.lambda_}
            if self.stack_name == DEFAULT_STACK_NAME:
                self.stack_name = endpoints.stack_name
            self._session = local_session(endpoints.region)
        if self._session is None:
            session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
            if not session.region_name:
                raise CliError("no AWS region: pass --region or set AWS_DEFAULT_REGION")
            if session.get_credentials() is None:
                raise CliError(
                    "no AWS credentials: pass --profile, run 'aws configure', or set AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY"
                )
            self._session = session
        return self._session

    def endpoint_for(self, service: str) -> str | None:
        """Where calls to `service` go: --endpoint-url, the local stack's (with --local), or None (the SDK's own)."""
        self.session()  # with --local it is what finds the local endpoints
        if service not in self._service_endpoints:
            return self.endpoint_url
        endpoint = self._service_endpoints[service]
        if endpoint is None:
            raise CliError(f"the local stack serves no {service} endpoint yet (is it still starting?); try again")
        return endpoint

    def client(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {"config": _CLIENT_CONFIG}
            endpoint = self.endpoint_for(service)
            if endpoint:
                kwargs["endpoint_url"] = endpoint
            self._clients[service] = self.session().client(service, **kwargs)
        return self._clients[service]

    def local_endpoints(self) -> Any:
        """The running local stack's endpoints (watchlist_workstation.local.stack.Endpoints); None without --local."""
        self.session()
        return self._local_endpoints

    def local_state_paths(self) -> list[Path]:
        """What the running local stack keeps on this machine for its stack (the saved watchlist and
        the results mirror), which teardown removes with it; none without --local."""
        if self.local_endpoints() is None:
            return []
        from watchlist_workstation.local.stack import default_state_dir

        return self._local_endpoints.saved_state(default_state_dir())

    # ---------------------------------------------------------------- the stack
    def describe_stack(self) -> dict[str, Any] | None:
        """The stack's description, or None when there is no such stack."""
        try:
            return self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "")
            if exc.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in message:
                return None
            raise

    def outputs(self) -> dict[str, str]:
        if self._outputs is None:
            stack = self.describe_stack()
            if stack is None:
                raise StackNotFound(
                    f"stack {self.stack_name} does not exist in {self.session().region_name}; "
                    "deploy it with './cfcli.py make-infra' or pick another with --stack-name"
                )
            self._outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return self._outputs

    def output(self, key: str) -> str:
        outputs = self.outputs()
        if key not in outputs:
            raise CliError(f"stack {self.stack_name} has no output {key}; is it this project's stack?")
        return outputs[key]

    def table_name(self) -> str:
        # An explicit table (CFCLI_TABLE_NAME) wins, for tables managed outside this stack.
        return os.environ.get("CFCLI_TABLE_NAME") or self.output("TableName")


def aws_error_message(exc: BaseException) -> str | None:
    """The one-line message for an AWS or SDK error a user can act on; None for anything else (a bug)."""
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return "no AWS credentials: pass --profile, run 'aws configure', or set AWS_ACCESS_KEY_ID"
    if isinstance(exc, ProfileNotFound):
        return str(exc)
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "call")
        return f"AWS {operation} failed: {error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip()
    if isinstance(exc, BotoCoreError):
        return f"AWS SDK error: {exc}"
    return None


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def emit_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table on stdout (no colour, so it pipes cleanly)."""
    if not rows:
        return
    widths = {c: max(len(c), *(len(str(r.get(c, "") if r.get(c) is not None else "")) for r in rows)) for c in columns}
    click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        cells = [str(row.get(c)) if row.get(c) is not None else "" for c in columns]
        click.echo("  ".join(cell.ljust(widths[c]) for cell, c in zip(cells, columns, strict=True)).rstrip())


def note(message: str) -> None:
    """A diagnostic for people: stderr, so stdout stays data."""
    click.echo(message, err=True)


def is_interactive() -> bool:
    return sys.stdin.isatty()
