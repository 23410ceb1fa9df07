"""A small IAM policy evaluator: identity policies and resource-based policies of one account.

Follows the IAM User Guide, "Policy evaluation logic" (docs/local-mode.md, "IAM in local mode"):
an explicit Deny in any policy wins; otherwise an Allow in an identity policy or in a resource-based
policy that names the principal allows (same account); otherwise the request is implicitly denied.

What a statement may use here: Effect, Action / NotAction, Resource / NotResource, Principal (in a
resource-based policy) and Condition with the operators in OPERATORS, each optionally ...IfExists.
Action names compare case-insensitively, ARNs case-sensitively ("IAM JSON policy elements: Action",
"...: Resource"); `*` and `?` are wildcards in both. A condition operator not listed here, a
ForAnyValue:/ForAllValues: set operator, or NotPrincipal makes its statement not match: a Deny using
one does not fire, an Allow using one does not allow (listed in docs/local-mode.md as not emulated).
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"


@dataclass(frozen=True)
class Principal:
    """Who asks: an assumed-role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) and its role."""

    session_arn: str
    role_arn: str
    account: str


@dataclass(frozen=True)
class Decision:
    effect: str  # ALLOW, EXPLICIT_DENY or IMPLICIT_DENY
    where: str = ""  # for a deny: "identity-based" or "resource-based"; for an allow: which granted it
    sid: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


@dataclass(frozen=True)
class Policies:
    """What applies to one request: the principal's identity policies and the resource's own policy."""

    identity: Sequence[Mapping[str, Any]] = ()
    resource: Sequence[Mapping[str, Any]] = ()
    context: Mapping[str, Any] = field(default_factory=dict)


def parse_document(text: str | bytes | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A policy document from what a backend keeps: JSON, or the Python literal moto 5.2.5 stores for a
    role's inline policy created by CloudFormation (a dict's repr, with None where Fn::If gave NoValue)."""
    if text is None or text == "" or text == b"":
        return None
    if isinstance(text, Mapping):
        return dict(text)
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not document:
        return []
    found = document.get("Statement") or []
    if isinstance(found, Mapping):
        found = [found]
    return [s for s in found if isinstance(s, Mapping)]  # moto keeps Fn::If's NoValue as None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # fnmatch's [] classes are not IAM syntax: escape them, keep * and ?.
    return re.compile(fnmatch.translate(pattern.replace("[", "[[]")), 0 if case_sensitive else re.IGNORECASE)


def _wildcard(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    # Every role request matches the same few patterns of the same policies: each is compiled once.
    return _compiled(pattern, case_sensitive).match(value) is not None


def action_matches(patterns: Any, action: str) -> bool:
    return any(_wildcard(str(p), action, case_sensitive=False) for p in _as_list(patterns))


def resource_matches(patterns: Any, resource: str) -> bool:
    return any(_wildcard(str(p), resource, case_sensitive=True) for p in _as_list(patterns))


def principal_matches(principal_element: Any, who: Principal) -> bool:
    """Principal "*", {"AWS": "*"}, or {"AWS": the role, the session, the account id or its root}."""
    if principal_element == "*":
        return True
    if not isinstance(principal_element, Mapping):
        return False
    names = {who.session_arn, who.role_arn, who.account, f"arn:aws:iam::{who.account}:root", "*"}
    return any(str(value) in names for value in _as_list(principal_element.get("AWS")))


# -- conditions -------------------------------------------------------------------------------------


def _string_equals(want: str, have: str) -> bool:
    return want == have


def _string_equals_ignore_case(want: str, have: str) -> bool:
    return want.lower() == have.lower()


def _string_like(want: str, have: str) -> bool:
    return _wildcard(want, have, case_sensitive=True)


def _bool(want: str, have: str) -> bool:
    return want.lower() == have.lower()


# IAM User Guide, "IAM JSON policy elements: Condition operators": the positive operators, and each
# negated one as (positive, negated=True).
OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_equals, False),
    "ArnNotEquals": (_string_equals, True),
    "ArnLike": (_string_like, False),
    "ArnNotLike": (_string_like, True),
    "Bool": (_bool, False),
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    if operator == "Null":
        present = key.lower() in context
        return all((str(w).lower() == "true") != present for w in _as_list(wanted))
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base not in OPERATORS:
        return False  # not emulated: the statement does not match
    compare, negated = OPERATORS[base]
    if key.lower() not in context:
        # A key missing from the request: ...IfExists holds; otherwise a positive operator does not
        # match and a negated one does ("Condition operators", the key missing from the context).
        return if_exists or negated
    have = [str(v) for v in _as_list(context[key.lower()])]
    matched = any(compare(str(w), h) for w in _as_list(wanted) for h in have)
    return not matched if negated else matched


def conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    """Every operator and every key must hold (AND); the values of one key are alternatives (OR)."""
    for operator, keys in (condition or {}).items():
        if ":" in operator or not isinstance(keys, Mapping):
            return False  # ForAnyValue:/ForAllValues: and malformed blocks are not emulated
        if not all(_condition_holds(operator, key, wanted, context) for key, wanted in keys.items()):
            return False
    return True


# -- statements and policies ------------------------------------------------------------------------


def statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any], who: Principal | None
) -> bool:
    """Whether `statement` covers this request (its effect aside). `who` is given for resource-based policies."""
    if who is not None:
        if "NotPrincipal" in statement or not principal_matches(statement.get("Principal"), who):
            return False
    if "NotAction" in statement:
        if action_matches(statement["NotAction"], action):
            return False
    elif not action_matches(statement.get("Action"), action):
        return False
    if "NotResource" in statement:
        if resource_matches(statement["NotResource"], resource):
            return False
    elif not resource_matches(statement.get("Resource"), resource):
        return False
    return conditions_hold(statement.get("Condition"), context)


def evaluate(who: Principal, action: str, resource: str, policies: Policies) -> Decision:
    """The decision for one action on one resource (IAM User Guide, "Policy evaluation logic")."""
    context = {key.lower(): value for key, value in policies.context.items()}
    allowed: Decision | None = None
    for where, documents, principal in (
        ("identity-based", policies.identity, None),
        ("resource-based", policies.resource, who),
    ):
        for document in documents:
            for statement in statements(document):
                if not statement_applies(statement, action, resource, context, principal):
                    continue
                sid = str(statement.get("Sid", ""))
                if statement.get("Effect") == "Deny":
                    return Decision(EXPLICIT_DENY, where, sid)
                if statement.get("Effect") == "Allow" and allowed is None:
                    allowed = Decision(ALLOW, where, sid)
    return allowed or Decision(IMPLICIT_DENY, "identity-based")


def denial_message(who: Principal, action: str, resource: str, decision: Decision) -> str:
    """AWS's wording for an access denied error (IAM User Guide, "Access denied error messages")."""
    head = f"User: {who.session_arn} is not authorized to perform: {action} on resource: {resource}"
    if decision.effect == EXPLICIT_DENY:
        return f"{head} with an explicit deny in a {decision.where} policy"
    return f"{head} because no identity-based policy allows the {action} action"
