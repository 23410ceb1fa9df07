"""Roles, as the rest of local mode uses them: a function's credentials, clients signed with a role's
keys, and one decision asked of the moto process's authorisation endpoint (middleware.py).

    roles = RoleAccess(admin_session, "http://127.0.0.1:5000")
    roles.credentials(role_arn, "ProducerAI")       # {"AWS_ACCESS_KEY_ID": "ASIA...", ...}, via sts:AssumeRole
    roles.client("sqs", role_arn, "event-source")   # a client that signs with that role's keys
    roles.decide(action=..., resource=..., role_arn=...)  # -> Answer(allowed, message)

Imports nothing of moto: this runs in the process of the local stack and in the Comprehend endpoint.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

AUTHORIZE_PATH = "/_local/iam/authorize"  # served by middleware.py
# AssumeRole's default MaxSessionDuration (STS API Reference, AssumeRole). The emulator does not expire
# the keys it hands out, so a long `local up` keeps them (docs/local-mode.md, "IAM in local mode").
SESSION_SECONDS = 3600


@dataclass(frozen=True)
class Answer:
    allowed: bool
    message: str = ""
    administrator: bool = False


def decide(
    endpoint: str,
    *,
    action: str,
    resource: str,
    region: str = "",
    access_key_id: str = "",
    role_arn: str = "",
    session_name: str = "",
) -> Answer:
    """Ask the moto process whether the caller (an access key, or a role) may do `action` on `resource`."""
    request = urllib.request.Request(  # noqa: S310 - loopback http
        endpoint.rstrip("/") + AUTHORIZE_PATH,
        data=json.dumps(
            {
                "action": action,
                "resource": resource,
                "region": region,
                "access_key_id": access_key_id,
                "role_arn": role_arn,
                "session_name": session_name,
            }
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        answer = json.loads(response.read())
    return Answer(bool(answer["allowed"]), str(answer.get("message", "")), bool(answer.get("administrator")))


class RoleAccess:
    """Credentials and clients of the account's roles, assumed through the emulated STS (thread-safe)."""

    def __init__(self, session: boto3.session.Session, endpoint: str, config: Config | None = None) -> None:
        self.endpoint = endpoint
        self._session, self._config = session, config
        self._lock = threading.Lock()
        self._sts = session.client("sts", endpoint_url=endpoint)
        self._credentials: dict[tuple[str, str], dict[str, str]] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    def credentials(self, role_arn: str, session_name: str) -> dict[str, str]:
        """The role's temporary credentials as a function's environment carries them (one session per name)."""
        with self._lock:
            key = (role_arn, session_name)
            if key not in self._credentials:
                # Lambda assumes the execution role with the function's name as the session name.
                assumed = self._sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=SESSION_SECONDS
                )["Credentials"]
                self._credentials[key] = {
                    "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
                    "AWS_SESSION_TOKEN": assumed["SessionToken"],
                }
            return dict(self._credentials[key])

    def client(self, service: str, role_arn: str, session_name: str) -> Any:
        """A client of the emulated account signing with the role's keys."""
        credentials = self.credentials(role_arn, session_name)
        with self._lock:
            key = (service, role_arn, session_name)
            if key not in self._clients:
                session = boto3.session.Session(
                    region_name=self._session.region_name,
                    aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=credentials["AWS_SESSION_TOKEN"],
                )
                self._clients[key] = session.client(service, endpoint_url=self.endpoint, config=self._config)
            return self._clients[key]

    def decide(self, *, action: str, resource: str, role_arn: str, session_name: str = "") -> Answer:
        return decide(
            self.endpoint,
            action=action,
            resource=resource,
            region=self._session.region_name or "",
            role_arn=role_arn,
            session_name=session_name,
        )
