"""A narrow patch of moto 5.2.5's DynamoDB reads, so that a Scan of the whole watchlist stays cheap in local mode.

The latest view (`results`, the dashboard's main page; watchlist_workstation/analysis/latest.py) is one Scan
of a dozen top-level attributes of every company. At 1,000 companies moto 5.2.5 took about 1.3 s of Python
to answer it (measured in-process, bench/dataset.py's table), which the real service answers in tens of
milliseconds. Two places held almost all of it:

- `Item.project` builds a projected item by converting the whole item to plain Python (boto3's
  TypeDeserializer) once per projected path, then converting the merged result back (TypeSerializer):
  for 13 paths and 1,000 items, 13,000 whole-item round trips.
- moto's response serializer walks every attribute value through the AttributeValue structure of the
  service model: ten members looked up by name variants per value, 130,000 lookups for that Scan.

What is patched (by `apply()`, for the whole process)
- `Item.project`, when every projected path is a single top-level attribute name (no `.` or `[n]`) and
  every attribute it keeps is of type S, N, SS or NS (with each number written the way
  boto3's Decimal context writes it, which moto's round trip would produce): the kept attributes are taken
  from the item as they are, in the order of the paths. moto's round trip gives the same attributes
  and values, with a string or number set's members possibly in another order, which DynamoDB does
  not define either (Amazon DynamoDB Developer Guide, "Supported data types": "the order of the
  values within a set is not preserved"). Any other path or type takes moto's own code.
- The JSON serializer's map of AttributeValues (an item, a key), when every value is `{"S": str}`,
  `{"N": str}`, `{"SS": [str, ...]}` or `{"NS": [str, ...]}`: the map is written as it is, which is
  what moto's walk writes for these four members (a string member is written as the string it is).
  Any other value (binary, boolean, null, list, map) takes moto's walk, for the whole map.

The one difference: shipped moto converts the whole item to project any of it, so an item holding a number of more
than 38 digits (which DynamoDB refuses to store, but moto stores) makes every projection of that item fail with
decimal.Inexact; patched, a projection that leaves that number out answers. A projection of the number itself
fails alike.

What stays moto's own: request parsing and validation, filters, the 1 MB page limit and
`LastEvaluatedKey`, segments, `Select`, consumed capacity, every other operation's response, and
every error. The wire format is the DynamoDB API's (Amazon DynamoDB API Reference, "Scan", "Query",
"GetItem": `Items`/`Item` as maps of AttributeValue).

bench/dataset.py measures it; tests/test_local_moto_ddb_reads.py checks that patched and shipped moto
answer Scan, Query, GetItem and BatchGetItem alike, for projections of every shape and items of every type.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT

from watchlist_workstation.local.moto_server.swaps import Swaps
from watchlist_workstation.local.moto_server.version import require_supported_moto

_STRING_TYPES = frozenset({"S", "N", "SS", "NS"})

_swaps = Swaps()


def _canonical_number(text: Any) -> bool:
    """True when moto's round trip (boto3's Decimal context of 38 digits, then str) leaves this number's text as it
    is; a number that context cannot hold exactly (more digits, a larger exponent) raises there, so it takes
    moto's path and gets moto's answer."""
    try:
        return isinstance(text, str) and str(DYNAMODB_CONTEXT.create_decimal(text)) == text
    except ArithmeticError:  # decimal's InvalidOperation, Inexact, Rounded, Overflow, ...
        return False


def _kept_as_is(value: Any) -> bool:
    """A DynamoType that moto's projection round trip gives back unchanged (set order aside)."""
    kind, inner = value.type, value.value
    if kind == "S":
        return isinstance(inner, str)
    if kind == "N":
        return _canonical_number(inner)
    if kind in ("SS", "NS") and isinstance(inner, list):
        check = _canonical_number if kind == "NS" else (lambda member: isinstance(member, str))
        return all(check(member) for member in inner)
    return False


def _copied(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def top_level_names(projection_expressions: list[list[str]]) -> list[str] | None:
    """The attribute names when every path is one top-level name; None otherwise.

    moto's ProjectionExpressionParser gives each path as its parts: `a.b` as ["a", "b"], `a[0]` as
    ["a", "[0]"], so a path of one part without brackets is a top-level attribute.
    """
    names = []
    for path in projection_expressions:
        if len(path) != 1 or not isinstance(path[0], str) or "[" in path[0]:
            return None
        names.append(path[0])
    return names


def plain_attribute_map(value: Any) -> bool:
    """True when every AttributeValue of this map is {S|N: str} or {SS|NS: [str, ...]}."""
    if not isinstance(value, dict):
        return False
    for attribute in value.values():
        if not isinstance(attribute, dict) or len(attribute) != 1:
            return False
        ((kind, inner),) = attribute.items()
        if kind not in _STRING_TYPES:
            return False
        if kind in ("S", "N"):
            if not isinstance(inner, str):
                return False
        elif not isinstance(inner, list) or not all(isinstance(member, str) for member in inner):
            return False
    return True


def apply() -> None:
    """Patch moto's DynamoDB projection and AttributeValue serialization in this process; idempotent."""
    require_supported_moto(
        "watchlist_workstation/local/moto_server/ddb_reads.py",
        "moto/dynamodb/models/dynamo_type.py (Item.project) and moto/core/serialize.py (BaseJSONSerializer)",
    )
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    with _swaps.lock:
        if _swaps.applied:
            return
        shipped_project, shipped_map = Item.__dict__["project"], BaseJSONSerializer.__dict__["_serialize_type_map"]

        def project(self: Any, projection_expressions: list[list[str]]) -> Any:
            names = top_level_names(projection_expressions)
            if names is None:
                return shipped_project(self, projection_expressions)
            kept = {name: self.attrs[name] for name in names if name in self.attrs}
            if not all(_kept_as_is(value) for value in kept.values()):
                return shipped_project(self, projection_expressions)
            projected = Item(hash_key=self.hash_key, range_key=self.range_key, attrs={})
            # Fresh values (a set's list copied), so the answer shares nothing mutable with the stored item. A
            # subset of an item that passed moto's size limit passes it too, so dict.update skips the check
            # LimitedSizeDict makes per assignment (it sizes the whole item each time).
            fresh = {name: DynamoType({value.type: _copied(value.value)}) for name, value in kept.items()}
            dict.update(projected.attrs, fresh)
            return projected

        def serialize_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
            if getattr(shape.value, "name", None) == "AttributeValue" and plain_attribute_map(value):
                self._default_serialize(serialized, value, shape, key)
                return
            shipped_map(self, serialized, value, shape, key)

        _swaps.replace(Item, "project", project)
        _swaps.replace(BaseJSONSerializer, "_serialize_type_map", serialize_map)


def revert() -> None:
    """Put moto's shipped projection and serializer back (tests compare the two in one process)."""
    _swaps.restore()
