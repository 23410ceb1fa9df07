"""The DynamoDB read patch local mode applies to moto (watchlist_workstation/local/moto_server/ddb_reads.py): the same
answers as moto as shipped for Scan, Query, GetItem and BatchGetItem, for projections of every shape and items of every
type (but the one difference the patch documents, tested on its own), and its direct paths really taken for the latest
view's Scan.

Each request runs twice in this process through boto3 against moto's in-process mock: once with moto as shipped,
once patched; the parsed responses (or error codes and messages) must be equal, a set's members compared in any
order (DynamoDB does not define it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lib import state
from tests.conftest import page_revision, result_row
from watchlist_workstation.analysis.latest import PROJECTION, read_watchlist
from watchlist_workstation.local.moto_server import ddb_reads

TABLE, RANGED, NUMBERS = "watchlist", "events", "numbers"
# More digits than DynamoDB holds (38): the service refuses it on write, moto stores it.
LONG_NUMBER = "1234567890123456789012345678901234567890"
EVERY_TYPE = {
    "name": {"S": "Every"},
    "text": {"S": ""},
    "count": {"N": "12"},
    "odd_number": {"N": "1e2"},
    "ratio": {"N": "0.50"},
    "tags": {"SS": ["b", "a", "c"]},
    "sizes": {"NS": ["3", "1.5", "2"]},
    "blob": {"B": b"\x00\x01"},
    "blobs": {"BS": [b"\x02", b"\x03"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "listed": {"L": [{"S": "x"}, {"N": "2"}, {"M": {"deep": {"S": "y"}}}]},
    "mapped": {"M": {"k": {"S": "v"}, "n": {"N": "7"}, "inner": {"M": {"z": {"SS": ["q"]}}}}},
}


@pytest.fixture
def restore_shipped() -> Iterator[None]:
    ddb_reads.revert()
    yield
    ddb_reads.revert()


def _keyed_by_name(ddb: Any, table: str) -> None:
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _seed(ddb: Any) -> None:
    _keyed_by_name(ddb, TABLE)
    ddb.create_table(
        TableName=RANGED,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
            {"AttributeName": "kind", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-kind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=TABLE, Item=EVERY_TYPE)
    _keyed_by_name(ddb, NUMBERS)
    ddb.put_item(TableName=NUMBERS, Item={"name": {"S": "Long"}, "long": {"N": LONG_NUMBER}, "short": {"N": "7"}})
    for number in range(30):
        name = f"Company {number:02d}"
        ddb.put_item(TableName=TABLE, Item={"name": {"S": name}, "added_at": {"S": "2026-11-01T00:00:00Z"}})
        if number % 3:
            at = f"2026-11-28T12:{number:02d}:00Z"
            state.save_analysis(TABLE, result_row(name, at), page_revision(name, number), f"k/{number}", ddb=ddb)
        for at in range(3):
            kind = "odd" if number % 2 else "even"
            item = {"name": {"S": name}, "at": {"N": str(at)}, "kind": {"S": kind}, "tags": {"SS": [f"t{at}", "u"]}}
            ddb.put_item(TableName=RANGED, Item=item)


def _names(*attributes: str) -> dict[str, Any]:
    placeholders = {f"#p{i}": attribute for i, attribute in enumerate(attributes)}
    return {"ProjectionExpression": ", ".join(placeholders), "ExpressionAttributeNames": placeholders}


def _scan_all(ddb: Any, **request: Any) -> list[dict[str, Any]]:
    """Every page of a Scan with a small Limit, so LastEvaluatedKey and ExclusiveStartKey take part."""
    pages, start = [], None
    while True:
        page = ddb.scan(TableName=TABLE, Limit=7, **request, **({"ExclusiveStartKey": start} if start else {}))
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


REQUESTS: list[tuple[str, Callable[[Any], Any]]] = [
    ("Scan, every attribute", lambda ddb: ddb.scan(TableName=TABLE)),
    ("Scan, the latest view's projection", lambda ddb: ddb.scan(TableName=TABLE, **_names(*PROJECTION))),
    ("Scan, top-level names of every type", lambda ddb: ddb.scan(TableName=TABLE, **_names(*EVERY_TYPE))),
    (
        "Scan, a number moto's round trip rewrites",
        lambda ddb: ddb.scan(TableName=TABLE, **_names("odd_number", "text")),
    ),
    ("Scan, a number of 40 digits", lambda ddb: ddb.scan(TableName=NUMBERS, **_names("long", "short"))),
    ("Scan, names no item has", lambda ddb: ddb.scan(TableName=TABLE, **_names("absent", "also_absent"))),
    ("Scan, a literal projection", lambda ddb: ddb.scan(TableName=TABLE, ProjectionExpression="tags, ratio, sizes")),
    (
        "Scan, nested paths and list indexes",
        lambda ddb: ddb.scan(
            TableName=TABLE,
            ProjectionExpression="#m.k, #m.inner, listed[0], listed[2]",
            ExpressionAttributeNames={"#m": "mapped"},
        ),
    ),
    ("Scan, pages of 7", lambda ddb: _scan_all(ddb, **_names("name", "sentiment", "recent_results"))),
    (
        "Scan, a filter and a projection",
        lambda ddb: ddb.scan(
            TableName=TABLE,
            FilterExpression="attribute_exists(#p1)",
            **_names("name", "sentiment", "score_positive"),
            ReturnConsumedCapacity="TOTAL",
        ),
    ),
    ("Scan, COUNT", lambda ddb: ddb.scan(TableName=TABLE, Select="COUNT")),
    ("Scan, segment 1 of 3", lambda ddb: ddb.scan(TableName=TABLE, Segment=1, TotalSegments=3, **_names("name"))),
    ("Scan, AttributesToGet", lambda ddb: ddb.scan(TableName=TABLE, AttributesToGet=["name", "tags", "blob"])),
    (
        "Query, a projection",
        lambda ddb: ddb.query(
            TableName=RANGED,
            KeyConditionExpression="#n = :n",
            ExpressionAttributeValues={":n": {"S": "Company 04"}},
            ProjectionExpression="#n, tags, #a",
            ExpressionAttributeNames={"#n": "name", "#a": "at"},
        ),
    ),
    (
        "Query, an index",
        lambda ddb: ddb.query(
            TableName=RANGED,
            IndexName="by-kind",
            KeyConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": {"S": "odd"}},
        ),
    ),
    ("GetItem, every type", lambda ddb: ddb.get_item(TableName=TABLE, Key={"name": {"S": "Every"}})),
    (
        "GetItem, a projection",
        lambda ddb: ddb.get_item(TableName=TABLE, Key={"name": {"S": "Company 04"}}, **_names(*PROJECTION)),
    ),
    (
        "BatchGetItem, a projection",
        lambda ddb: ddb.batch_get_item(
            RequestItems={
                TABLE: {
                    "Keys": [{"name": {"S": "Company 01"}}, {"name": {"S": "Every"}}],
                    **_names("name", "tags", "blob", "sentiment"),
                }
            }
        ),
    ),
    ("Scan, an undefined name", lambda ddb: ddb.scan(TableName=TABLE, ProjectionExpression="#undefined")),
    (
        "Scan, an unused name",
        lambda ddb: ddb.scan(
            TableName=TABLE, ProjectionExpression="#a", ExpressionAttributeNames={"#a": "name", "#b": "unused"}
        ),
    ),
]


def _without_metadata(value: Any) -> Any:
    """The parsed response for comparing: no request id, sets' members sorted, pages and batches in one order."""
    if isinstance(value, list):
        return [_without_metadata(member) for member in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, member in value.items():
        if key == "ResponseMetadata":
            continue
        if key in ("SS", "NS", "BS") and isinstance(member, list):
            out[key] = sorted(member)
        elif key == "Responses" and isinstance(member, dict):
            out[key] = {t: sorted((_without_metadata(i) for i in items), key=repr) for t, items in member.items()}
        else:
            out[key] = _without_metadata(member)
    return out


def _answers() -> dict[str, Any]:
    answers = {}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _seed(ddb)
        for name, request in REQUESTS:
            try:
                answers[name] = _without_metadata(request(ddb))
            except ClientError as error:
                answers[name] = ("error", error.response["Error"]["Code"], error.response["Error"]["Message"])
            except ArithmeticError as error:  # moto's own round trip fails on a number it cannot hold (in-process)
                answers[name] = ("raised", type(error).__name__)
    return answers


def test_patched_moto_answers_every_read_as_shipped_moto(restore_shipped: None) -> None:
    shipped = _answers()
    ddb_reads.apply()
    patched = _answers()
    assert set(patched) == set(shipped) == {name for name, _ in REQUESTS}
    for name in shipped:
        assert patched[name] == shipped[name], name
    # The scenarios reach what they are meant to: errors, pages, and every type.
    assert shipped["Scan, an unused name"][0] == "error"
    assert shipped["Scan, a number of 40 digits"] == ("raised", "Inexact")
    nested = shipped["Scan, nested paths and list indexes"]["Items"][-1]
    assert nested["mapped"]["M"]["inner"]["M"]["z"] == {"SS": ["q"]}
    assert len(shipped["Scan, pages of 7"]) > 2
    assert shipped["Scan, a number moto's round trip rewrites"]["Items"][-1]["odd_number"] == {"N": "1E+2"}
    assert shipped["GetItem, every type"]["Item"]["blobs"] == {"BS": [b"\x02", b"\x03"]}


def test_the_one_difference_a_projection_beside_a_number_dynamodb_would_refuse(restore_shipped: None) -> None:
    """Shipped moto converts the whole item to project it, so an item holding a number of more than 38 digits (which
    DynamoDB refuses to store, and moto stores) makes every projection of it fail; patched moto projects the other
    attributes as they are. Projecting the number itself fails alike in both."""
    request = {"TableName": NUMBERS, **_names("short")}
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _seed(ddb)
        with pytest.raises(ArithmeticError):
            ddb.scan(**request)
        ddb_reads.apply()
        assert ddb.scan(**request)["Items"] == [{"short": {"N": "7"}}]
        with pytest.raises(ArithmeticError):
            ddb.scan(TableName=NUMBERS, **_names("long"))


def test_the_latest_view_takes_both_direct_paths(restore_shipped: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the patch, the latest view's Scan neither round-trips items (moto's find_nested_key, only used by the
    shipped projection) nor walks AttributeValues member by member (the serializer's get_value for "S")."""
    from moto.core import serialize
    from moto.dynamodb.models import dynamo_type

    calls = {"find_nested_key": 0, "S": 0}
    shipped_find, shipped_get = dynamo_type.find_nested_key, serialize.ResponseSerializer.get_value

    def find(*args: Any, **kwargs: Any) -> Any:
        calls["find_nested_key"] += 1
        return shipped_find(*args, **kwargs)

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        calls["S"] += key == "S"
        return shipped_get(self, value, key, shape)

    monkeypatch.setattr(dynamo_type, "find_nested_key", find)
    monkeypatch.setattr(serialize.ResponseSerializer, "get_value", get_value)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        _seed(ddb)
        shipped = read_watchlist(ddb, TABLE)
        assert calls["find_nested_key"] > 0 and calls["S"] > 0  # the counters see moto's own paths
        ddb_reads.apply()
        calls.update(find_nested_key=0, S=0)
        patched = read_watchlist(ddb, TABLE)
    assert calls == {"find_nested_key": 0, "S": 0}
    assert patched.latest.equals(shipped.latest) and patched.added == shipped.added
    assert len(patched.latest) == 20


def test_apply_is_idempotent_and_revert_restores_moto(restore_shipped: None) -> None:
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.dynamo_type import Item

    shipped = (Item.__dict__["project"], BaseJSONSerializer.__dict__["_serialize_type_map"])
    ddb_reads.apply()
    patched = (Item.__dict__["project"], BaseJSONSerializer.__dict__["_serialize_type_map"])
    ddb_reads.apply()
    assert (Item.__dict__["project"], BaseJSONSerializer.__dict__["_serialize_type_map"]) == patched != shipped
    ddb_reads.revert()
    assert (Item.__dict__["project"], BaseJSONSerializer.__dict__["_serialize_type_map"]) == shipped
