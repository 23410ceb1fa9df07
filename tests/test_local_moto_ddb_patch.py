"""The DynamoDB UpdateItem patch local mode applies to moto (watchlist_workstation/local/moto_server/ddb_patch.py):
the same items and the same errors as moto as shipped, for the consumer's writes and for every shape around them, and
the direct path really taken for the consumer's writes.

Each scenario runs twice in this process through boto3 against moto's in-process mock: once with
moto as shipped, once patched; the responses (or error codes and messages) and the final table
must be equal.
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
from watchlist_workstation.local.moto_server import ddb_patch

TABLE = "watchlist"
AT = "2026-11-28T12:00:00Z"
LATER = "2026-11-28T12:00:00.000001Z"


@pytest.fixture
def restore_shipped() -> Iterator[None]:
    ddb_patch.revert()
    yield
    ddb_patch.revert()


def _update(ddb: Any, expression: str, names: dict, values: dict | None = None, key: str = "Acme", **extra) -> dict:
    request = {
        "TableName": TABLE,
        "Key": {"name": {"S": key}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        **extra,
    }
    if values is not None:
        request["ExpressionAttributeValues"] = values
    return ddb.update_item(**request)


def _set_note_if(condition: str, names: dict, value: str) -> Callable[[Any], Any]:
    """A step: SET note = value under a condition."""
    return lambda ddb: _update(
        ddb, "SET #a = :a", {"#a": "note", **names}, {":a": {"S": value}}, ConditionExpression=condition
    )


BIG = "x" * 250_000
STEPS: list[tuple[str, Callable[[Any], Any]]] = [
    (
        "consumer analysis",
        lambda ddb: state.save_analysis(TABLE, result_row("Acme", AT), page_revision("Acme", 10), "k/1", ddb=ddb),
    ),
    (
        "consumer analysis, no etag",
        lambda ddb: state.save_analysis(
            TABLE, result_row("Acme", LATER, positive=0.2), page_revision("Acme", 11), "k/2", ddb=ddb
        ),
    ),
    (
        "consumer new revision",
        lambda ddb: state.save_revision(TABLE, "Acme", page_revision("Acme", 12), "2026-11-28T12:05:00Z", ddb=ddb),
    ),
    ("consumer error", lambda ddb: state.save_error(TABLE, "Acme", "no such page", "2026-11-28T12:06:00Z", ddb=ddb)),
    (
        "consumer on a removed company",
        lambda ddb: state.save_analysis(TABLE, result_row("Gone", AT), page_revision("Gone", 10), "k/3", ddb=ddb),
    ),
    (
        "no condition creates the item",
        lambda ddb: _update(ddb, "SET #a = :a", {"#a": "note"}, {":a": {"S": "hi"}}, key="New"),
    ),
    (
        "lower-case keywords, REMOVE first",
        lambda ddb: _update(ddb, " remove #b set #a=:a ", {"#a": "note", "#b": "etag"}, {":a": {"N": "12.50"}}),
    ),
    ("REMOVE only", lambda ddb: _update(ddb, "REMOVE #a, #b", {"#a": "note", "#b": "absent"})),
    (
        "BOOL, NULL and B values",
        lambda ddb: _update(
            ddb,
            "SET #a = :a, #b = :b, #c = :c",
            {"#a": "flag", "#b": "nothing", "#c": "blob"},
            {":a": {"BOOL": True}, ":b": {"NULL": True}, ":c": {"B": b"\x00\x01"}},
        ),
    ),
    (
        "ReturnValues ALL_NEW",
        lambda ddb: _update(ddb, "SET #a = :a", {"#a": "note"}, {":a": {"S": "new"}}, ReturnValues="ALL_NEW"),
    ),
    (
        "ReturnValues UPDATED_OLD",
        lambda ddb: _update(ddb, "SET #a = :a", {"#a": "note"}, {":a": {"S": "newer"}}, ReturnValues="UPDATED_OLD"),
    ),
    ("the hash key", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "name"}, {":a": {"S": "Other"}})),
    ("an index key", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "status"}, {":a": {"S": "active"}})),
    ("an index key of the wrong type", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "status"}, {":a": {"N": "1"}})),
    ("an undefined name", lambda ddb: _update(ddb, "SET #a = :a, #z = :a", {"#a": "note"}, {":a": {"S": "v"}})),
    (
        "an undefined value",
        lambda ddb: _update(ddb, "SET #a = :a, #b = :z", {"#a": "note", "#b": "o"}, {":a": {"S": "v"}}),
    ),
    ("an unused value", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "note"}, {":a": {"S": "v"}, ":b": {"S": "w"}})),
    (
        "one attribute twice",
        lambda ddb: _update(
            ddb, "SET #a = :a, #b = :b", {"#a": "note", "#b": "note"}, {":a": {"S": "v"}, ":b": {"S": "w"}}
        ),
    ),
    (
        "SET and REMOVE of one attribute",
        lambda ddb: _update(ddb, "SET #a = :a REMOVE #b", {"#a": "note", "#b": "note"}, {":a": {"S": "v"}}),
    ),
    (
        "two SET clauses",
        lambda ddb: _update(ddb, "SET #a = :a SET #b = :a", {"#a": "note", "#b": "o"}, {":a": {"S": "v"}}),
    ),
    ("an empty string set", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "tags"}, {":a": {"SS": []}})),
    (
        "ADD of a string set to an absent attribute",
        lambda ddb: _update(
            ddb, "ADD #s :s", {"#s": "recent"}, {":s": {"SS": ["k/1", "k/2"]}}, ReturnValues="UPDATED_NEW"
        ),
    ),
    (
        "ADD of a string set with a member already there, beside a SET",
        lambda ddb: _update(
            ddb,
            "SET #a = :a ADD #s :s",
            {"#a": "note", "#s": "recent"},
            {":a": {"S": "g"}, ":s": {"SS": ["k/2", "k/3"]}},
            ReturnValues="UPDATED_NEW",
        ),
    ),
    ("ADD of a string set to a string", lambda ddb: _update(ddb, "ADD #s :s", {"#s": "note"}, {":s": {"SS": ["x"]}})),
    ("ADD of an empty string set", lambda ddb: _update(ddb, "ADD #s :s", {"#s": "recent"}, {":s": {"SS": []}})),
    ("ADD of a number", lambda ddb: _update(ddb, "ADD #c :c", {"#c": "count"}, {":c": {"N": "1"}})),
    (
        "list and map values",
        lambda ddb: _update(
            ddb,
            "SET #a = :a, #b = :b",
            {"#a": "l", "#b": "m"},
            {":a": {"L": [{"S": "x"}]}, ":b": {"M": {"k": {"N": "1"}}}},
        ),
    ),
    ("a nested path", lambda ddb: _update(ddb, "SET #b.#k = :a", {"#b": "m", "#k": "k"}, {":a": {"N": "2"}})),
    ("arithmetic", lambda ddb: _update(ddb, "SET #a = :a + :a", {"#a": "count"}, {":a": {"N": "2"}})),
    ("a large value", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "big1"}, {":a": {"S": BIG}})),
    ("past the item size limit", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "big2"}, {":a": {"S": BIG}})),
    ("near the item size limit", lambda ddb: _update(ddb, "SET #a = :a", {"#a": "big2"}, {":a": {"S": "y" * 150_000}})),
    (
        "small values past the item size limit",  # each within the direct path's size, together too big
        lambda ddb: _update(
            ddb,
            "SET #a = :a, #b = :a, #c = :a",
            {"#a": "small1", "#b": "small2", "#c": "small3"},
            {":a": {"S": "z" * 2000}},
        ),
    ),
    (
        "a condition with a value, met",
        lambda ddb: _update(
            ddb,
            "SET #a = :a",
            {"#a": "note", "#n": "name"},
            {":a": {"S": "c"}, ":k": {"S": "Acme"}},
            ConditionExpression="#n = :k",
        ),
    ),
    ("a condition without values, not met", _set_note_if("attribute_not_exists(#n)", {"#n": "note"}, "d")),
    ("a condition naming an undefined placeholder", _set_note_if("attribute_exists(#z)", {}, "e")),
    ("a condition with an unused name", _set_note_if("attribute_exists(#a)", {"#u": "unused"}, "f")),
    ("an empty expression", lambda ddb: _update(ddb, "  ", {"#a": "x"})),
    ("a syntax error", lambda ddb: _update(ddb, "SET #a = ", {"#a": "x"})),
]


def _outcomes() -> list[tuple[str, Any]]:
    """Run STEPS on a fresh mocked table; each step's response or error, then the whole table."""
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "name", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(
            TableName=TABLE,
            Item={"name": {"S": "Acme"}, "added_at": {"S": "2026-11-01T00:00:00Z"}, "last_error": {"S": "old"}},
        )
        outcomes: list[tuple[str, Any]] = []
        for label, step in STEPS:
            try:
                response = step(ddb)
                if isinstance(response, dict):
                    response = {k: v for k, v in response.items() if k != "ResponseMetadata"}
                outcomes.append((label, response))
            except ClientError as exc:
                outcomes.append((label, (exc.response["Error"]["Code"], exc.response["Error"]["Message"])))
            except KeyError as exc:  # moto's own crash on an undefined name placeholder must match too
                outcomes.append((label, (type(exc).__name__, str(exc))))
        items = sorted(ddb.scan(TableName=TABLE)["Items"], key=lambda item: item["name"]["S"])
        outcomes.append(("table", items))
        return outcomes


def test_patched_moto_answers_like_shipped_moto(restore_shipped: None) -> None:
    shipped = _outcomes()
    ddb_patch.apply()
    patched = _outcomes()
    for (label, expected), (_, got) in zip(shipped, patched, strict=True):
        assert got == expected, label
    # The scenario means something: the consumer's write landed, the size limit and the key rule bit.
    outcome = dict(patched)
    assert outcome["consumer on a removed company"] == state.GONE
    assert outcome["the hash key"][0] == "ValidationException"
    assert outcome["past the item size limit"][0] == "ValidationException"
    assert outcome["near the item size limit"] == {"ConsumedCapacity": {"TableName": TABLE, "CapacityUnits": 0.5}}
    assert outcome["small values past the item size limit"][0] == "ValidationException"
    acme = next(item for item in outcome["table"] if item["name"]["S"] == "Acme")
    assert acme["checked_at"] == {"S": "2026-11-28T12:06:00Z"} and acme["last_error"] == {"S": "no such page"}


def test_consumer_writes_take_the_direct_path(restore_shipped: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    ddb_patch.apply()
    validated, conditions = [], []
    shipped_validate, shipped_parse = UpdateExpressionValidator.validate, ConditionExpressionParser.parse
    monkeypatch.setattr(
        UpdateExpressionValidator, "validate", lambda self: validated.append(1) or shipped_validate(self)
    )
    monkeypatch.setattr(
        ConditionExpressionParser,
        "parse",
        lambda self: conditions.append(self.condition_expression) or shipped_parse(self),
    )
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName=TABLE, Item={"name": {"S": "Acme"}})
        ddb.put_item(TableName=TABLE, Item={"name": {"S": "Globex"}})
        assert (
            state.save_analysis(TABLE, result_row("Globex", AT), page_revision("Globex", 9), "k/0", ddb=ddb)
            == state.WRITTEN
        )
        assert (
            state.save_analysis(TABLE, result_row("Acme", AT), page_revision("Acme", 10), "k/1", ddb=ddb)
            == state.WRITTEN
        )
        assert state.save_error(TABLE, "Acme", "no such page", "2026-11-28T12:05:00Z", ddb=ddb) == state.WRITTEN
        assert state.clear_error(TABLE, "Acme", "2026-11-28T12:05:00Z", ddb=ddb) == state.WRITTEN
        assert validated == []  # moto's own validator never ran
        # A condition without values (clearing an error) was parsed once per set of names, not twice per write;
        # the analysis's condition carries its revision, page and order key as values, and the error's its
        # reason, so moto parses each on every write, as shipped.
        newer = (
            "attribute_exists(#n) AND (attribute_not_exists(#rev) OR #rev < :rev OR #page <> :page) "
            "AND (attribute_not_exists(#k) OR #k < :k)"
        )
        other_error = "attribute_exists(#n) AND (attribute_not_exists(#err) OR #err <> :err)"
        cleared = "attribute_exists(#n) AND attribute_exists(#err)"
        assert [c for c in conditions if c] == [newer] * 4 + [other_error] * 2 + [cleared]
        item = ddb.get_item(TableName=TABLE, Key={"name": {"S": "Acme"}})["Item"]
        assert item["sentiment"] == {"S": "POSITIVE"} and item["checked_at"] == {"S": "2026-11-28T12:05:00Z"}
        _update(ddb, "SET #a = :a + :a", {"#a": "count"}, {":a": {"N": "2"}})
        assert validated == [1]  # any other shape is moto's
        assert ddb.get_item(TableName=TABLE, Key={"name": {"S": "Acme"}})["Item"]["count"] == {"N": "4"}


def test_a_parsed_expression_is_reused(restore_shipped: None) -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    ddb_patch.apply()
    assert UpdateExpressionParser.make("SET #a = :a") is UpdateExpressionParser.make("SET #a = :a")
    with pytest.raises(Exception, match="Invalid UpdateExpression"):
        UpdateExpressionParser.make("SET #a = ")
    ddb_patch.revert()
    assert UpdateExpressionParser.make("SET #a = :a") is not UpdateExpressionParser.make("SET #a = :a")


@pytest.mark.parametrize(
    ("expression", "shape"),
    [
        ("SET #a = :a", ((("#a", ":a"),), (), ())),
        ("SET #a=:a,#b = :b REMOVE #c, #d", ((("#a", ":a"), ("#b", ":b")), ("#c", "#d"), ())),
        (" remove #c set #a = :a ", ((("#a", ":a"),), ("#c",), ())),
        ("REMOVE #c", ((), ("#c",), ())),
        ("SET #a = :a REMOVE #c ADD #s :s", ((("#a", ":a"),), ("#c",), (("#s", ":s"),))),
        ("ADD #s :s, #t :t", ((), (), (("#s", ":s"), ("#t", ":t")))),
        ("ADD #s :s ADD #t :t", None),
        ("SET a = :a", None),  # a plain name could be a reserved word: moto judges it
        ("SET #a = :a + :b", None),
        ("SET #a.#b = :a", None),
        ("SET #a = :a SET #b = :b", None),
        ("SET #a = if_not_exists(#a, :a)", None),
        ("", None),
    ],
)
def test_simple_shape(expression: str, shape: Any) -> None:
    assert ddb_patch.simple_shape(expression) == shape


def test_refuses_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from watchlist_workstation.local.moto_server import version

    monkeypatch.setattr(version, "installed_moto_version", lambda: "5.3.0")
    with pytest.raises(version.UnsupportedMotoVersion, match=r"moto 5\.2\.5.*moto 5\.3\.0 is installed"):
        ddb_patch.apply()
