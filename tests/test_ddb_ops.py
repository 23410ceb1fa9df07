"""ddb_ops against moto's DynamoDB, and against botocore's Stubber where DynamoDB has to misbehave."""

from __future__ import annotations

import collections
import itertools

import boto3
import pytest
from botocore.stub import ANY, Stubber

import ddb_ops
from lib.names import InvalidName
from lib.results import ResultRow
from lib.state import WRITTEN, save_analysis, save_error
from lib.wikipedia import PageRevision

REGION = "us-east-1"
NOW = "2026-11-27T12:00:00Z"
_unique = itertools.count(1)


@pytest.fixture
def ddb(aws):
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table(ddb) -> str:
    name = f"watchlist-ops-{next(_unique)}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def fixed_clock(monkeypatch):
    monkeypatch.setattr(ddb_ops, "iso", lambda moment=None: NOW)


def put(ddb, table: str, name: str, **attributes: str) -> None:
    ddb.put_item(TableName=table, Item={"name": {"S": name}, **{k: {"S": v} for k, v in attributes.items()}})


def scan(ddb, table: str) -> dict[str, dict]:
    return {item["name"]["S"]: item for item in ddb.scan(TableName=table, ConsistentRead=True)["Items"]}


def count_calls(client) -> collections.Counter:
    calls: collections.Counter = collections.Counter()
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    return calls


def no_sleep(_seconds: float) -> None:
    pass


# --- items_add ---------------------------------------------------------------------------------------


def test_items_add_reports_added_and_present_and_keeps_present_state(ddb, table, fixed_clock):
    # GIVEN one of three names already on the watchlist, with state
    put(ddb, table, "Apple", sentiment="NEUTRAL", added_at="2020-01-01T00:00:00Z")
    # WHEN all three are added (one of them twice)
    report = ddb_ops.items_add(table, ["Netflix", "Apple", "Tesla", " Netflix"], ddb)
    # THEN the new ones are added once each, in order, and the present one keeps its state
    assert report == ddb_ops.AddReport(added=["Netflix", "Tesla"], present=["Apple"])
    items = scan(ddb, table)
    assert items["Apple"]["sentiment"] == {"S": "NEUTRAL"}
    assert items["Tesla"] == {"name": {"S": "Tesla"}, "added_at": {"S": NOW}}


def test_items_add_writes_in_chunks_of_25_and_reads_in_chunks_of_100(ddb, table):
    # GIVEN 1,000 new names
    names = [f"Company {i:04d}" for i in range(1000)]
    calls = count_calls(ddb)
    # WHEN they are added
    report = ddb_ops.items_add(table, names, ddb)
    # THEN 10 BatchGetItem and 40 BatchWriteItem calls did it, and every name is there
    assert calls["BatchGetItem"] == 10
    assert calls["BatchWriteItem"] == 40
    assert len(report.added) == 1000
    assert sorted(scan(ddb, table)) == names


def test_items_add_reports_progress_after_each_chunk(ddb, table):
    seen = []
    ddb_ops.items_add(table, [f"C{i}" for i in range(60)], ddb, progress=lambda done, of: seen.append((done, of)))
    assert seen == [(25, 60), (50, 60), (60, 60)]


def test_items_add_refuses_the_whole_input_when_one_name_is_invalid(ddb, table):
    # GIVEN a list whose third name is too long
    names = ["Apple", "Netflix", "x" * 1000]
    # WHEN it is added
    with pytest.raises(InvalidName, match="name 3"):
        ddb_ops.items_add(table, names, ddb)
    # THEN nothing was written
    assert scan(ddb, table) == {}


def _put_request(name: str) -> dict:
    return {"PutRequest": {"Item": {"name": {"S": name}, "added_at": {"S": NOW}}}}


def test_items_add_retries_unprocessed_items_with_backoff(aws, fixed_clock):
    # GIVEN DynamoDB hands one of two writes back once
    ddb = boto3.client("dynamodb", region_name=REGION)
    stub = Stubber(ddb)
    stub.add_response("batch_get_item", {"Responses": {"t": []}})
    stub.add_response(
        "batch_write_item",
        {"UnprocessedItems": {"t": [_put_request("B")]}},
        {"RequestItems": {"t": [_put_request("A"), _put_request("B")]}},
    )
    stub.add_response("batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"t": [_put_request("B")]}})
    waits = []
    # WHEN both are added
    with stub:
        report = ddb_ops.items_add("t", ["A", "B"], ddb, sleep=waits.append)
    # THEN only the unprocessed one was sent again, after a pause
    stub.assert_no_pending_responses()
    assert report.added == ["A", "B"]
    assert waits == [0.05]  # the first backoff (lib/table.py)


def test_items_add_gives_up_after_the_attempt_limit_with_a_clear_error(aws, fixed_clock):
    # GIVEN DynamoDB keeps handing a write back
    ddb = boto3.client("dynamodb", region_name=REGION)
    stub = Stubber(ddb)
    stub.add_response("batch_get_item", {"Responses": {"t": []}})
    for _ in range(ddb_ops.BATCH_ATTEMPTS):
        stub.add_response("batch_write_item", {"UnprocessedItems": {"t": [_put_request("A")]}})
    # WHEN the name is added
    with stub, pytest.raises(ddb_ops.BatchIncomplete, match="1 writes unprocessed after 8 attempts"):
        ddb_ops.items_add("t", ["A"], ddb, sleep=no_sleep)
    stub.assert_no_pending_responses()


def test_existing_names_retries_unprocessed_keys(aws):
    # GIVEN DynamoDB answers for one key and hands the other back
    ddb = boto3.client("dynamodb", region_name=REGION)
    stub = Stubber(ddb)
    stub.add_response(
        "batch_get_item",
        {
            "Responses": {"t": [{"name": {"S": "A"}}]},
            "UnprocessedKeys": {"t": {"Keys": [{"name": {"S": "B"}}], "ConsistentRead": True}},
        },
    )
    stub.add_response(
        "batch_get_item",
        {"Responses": {"t": [{"name": {"S": "B"}}]}, "UnprocessedKeys": {}},
        {"RequestItems": {"t": {"Keys": [{"name": {"S": "B"}}], "ConsistentRead": True}}},
    )
    # WHEN which names exist is asked
    with stub:
        found = ddb_ops.existing_names("t", ["A", "B", "C"], ddb, sleep=no_sleep)
    # THEN the second call asked only for the unprocessed key, and both answers count
    stub.assert_no_pending_responses()
    assert found == {"A", "B"}


# --- items_delete ------------------------------------------------------------------------------------


def test_items_delete_removes_present_names_and_reports_absent_ones(ddb, table):
    # GIVEN two companies on the watchlist
    put(ddb, table, "Apple")
    put(ddb, table, "Netflix")
    # WHEN one of them and an absent name are removed
    report = ddb_ops.items_delete(table, ["Apple", "Zed"], ddb)
    # THEN only that one is gone, and the absent one is reported
    assert report == ddb_ops.DeleteReport(removed=["Apple"], not_found=["Zed"])
    assert list(scan(ddb, table)) == ["Netflix"]


def test_items_delete_of_many_names_uses_chunks_of_25(ddb, table):
    names = [f"C{i:03d}" for i in range(60)]
    ddb_ops.items_add(table, names, ddb)
    calls = count_calls(ddb)
    report = ddb_ops.items_delete(table, names, ddb)
    assert calls["BatchWriteItem"] == 3
    assert len(report.removed) == 60
    assert scan(ddb, table) == {}


def test_items_delete_retries_unprocessed_deletes(aws):
    ddb = boto3.client("dynamodb", region_name=REGION)
    delete = {"DeleteRequest": {"Key": {"name": {"S": "A"}}}}
    stub = Stubber(ddb)
    stub.add_response("batch_get_item", {"Responses": {"t": [{"name": {"S": "A"}}]}})
    stub.add_response("batch_write_item", {"UnprocessedItems": {"t": [delete]}}, {"RequestItems": {"t": [delete]}})
    stub.add_response("batch_write_item", {}, {"RequestItems": {"t": [delete]}})
    with stub:
        report = ddb_ops.items_delete("t", ["A"], ddb, sleep=no_sleep)
    stub.assert_no_pending_responses()
    assert report.removed == ["A"]


# --- item_update -------------------------------------------------------------------------------------


def _analysed(ddb, table: str, name: str) -> None:
    """A company with everything the consumer writes about its page (through the consumer's own code)."""
    put(ddb, table, name, added_at="2020-01-01T00:00:00Z")
    row = ResultRow(name, "POSITIVE", 0.9, 0.05, 0.04, 0.01, "text", "a" * 64, "https://x/wiki/A", NOW, "run-1")
    page = PageRevision(name, 1234, f"https://en.wikipedia.org/wiki/{name}")
    assert save_analysis(table, row, page, "results/dt=2026-11-27/part-x.csv", ddb=ddb) == WRITTEN
    assert save_error(table, name, "no such page", NOW, ddb=ddb)


def test_item_update_renames_keeping_added_at_and_dropping_analysis_state(ddb, table):
    # GIVEN a company the consumer has analysed (and recorded an error for)
    _analysed(ddb, table, "Aple")
    # WHEN it is renamed
    ddb_ops.item_update(table, "Aple", "Apple", ddb)
    # THEN the old item is gone and the new one is a fresh watch entry that remembers when it was added
    assert scan(ddb, table) == {"Apple": {"name": {"S": "Apple"}, "added_at": {"S": "2020-01-01T00:00:00Z"}}}


def test_item_update_of_a_missing_name_raises_name_not_found(ddb, table):
    put(ddb, table, "Netflix")
    before = scan(ddb, table)
    with pytest.raises(ddb_ops.NameNotFound) as exc:
        ddb_ops.item_update(table, "Gone", "Apple", ddb)
    assert exc.value.name == "Gone"
    assert scan(ddb, table) == before


def test_item_update_onto_an_existing_name_raises_name_exists(ddb, table):
    # GIVEN both names on the watchlist, each with its own state
    put(ddb, table, "Apple", sentiment="NEUTRAL")
    put(ddb, table, "Netflix", sentiment="POSITIVE")
    before = scan(ddb, table)
    # WHEN one is renamed onto the other
    with pytest.raises(ddb_ops.NameExists) as exc:
        ddb_ops.item_update(table, "Apple", "Netflix", ddb)
    # THEN the transaction was cancelled and both are untouched
    assert exc.value.name == "Netflix"
    assert scan(ddb, table) == before


def test_item_update_reads_cancellation_reasons_when_old_vanishes_mid_rename(aws):
    # GIVEN the old item is read, then deleted by someone else before the transaction runs
    ddb = boto3.client("dynamodb", region_name=REGION)
    stub = Stubber(ddb)
    stub.add_response("get_item", {"Item": {"name": {"S": "Aple"}}})
    stub.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        modeled_fields={"CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "None"}]},
        expected_params={"TransactItems": ANY, "ClientRequestToken": ANY},
    )
    # WHEN it is renamed
    with stub, pytest.raises(ddb_ops.NameNotFound):
        ddb_ops.item_update("t", "Aple", "Apple", ddb)
    stub.assert_no_pending_responses()


def test_item_update_onto_the_same_name_is_refused(ddb, table):
    put(ddb, table, "Apple")
    with pytest.raises(ddb_ops.WatchlistError, match="same"):
        ddb_ops.item_update(table, "Apple", " Apple ", ddb)
    assert list(scan(ddb, table)) == ["Apple"]


def test_item_update_refuses_an_invalid_new_name(ddb, table):
    put(ddb, table, "Apple")
    with pytest.raises(InvalidName):
        ddb_ops.item_update(table, "Apple", "x" * 1000, ddb)
    assert list(scan(ddb, table)) == ["Apple"]


# --- items_list --------------------------------------------------------------------------------------


def test_items_list_of_an_empty_table_is_an_empty_list(ddb, table):
    assert ddb_ops.items_list(table, ddb) == []


def test_items_list_is_sorted_with_plain_values_and_none_for_missing(ddb, table):
    # GIVEN one analysed company, one that failed, and one never analysed
    put(ddb, table, "Tesla", sentiment="NEGATIVE", analyzed_at=NOW, text_sha256="b" * 64)
    put(ddb, table, "Apple", title="Apple Inc.")
    put(ddb, table, "Netflix", last_error="no such page")
    # WHEN the watchlist is listed
    rows = ddb_ops.items_list(table, ddb)
    # THEN rows come sorted by name, with exactly the listed fields as str or None
    assert rows == [
        {"name": "Apple", "title": "Apple Inc.", "sentiment": None, "analyzed_at": None, "last_error": None},
        {"name": "Netflix", "title": None, "sentiment": None, "analyzed_at": None, "last_error": "no such page"},
        {"name": "Tesla", "title": None, "sentiment": "NEGATIVE", "analyzed_at": NOW, "last_error": None},
    ]


def test_items_list_reads_every_page_of_the_scan(aws):
    # GIVEN a scan answered in two pages
    ddb = boto3.client("dynamodb", region_name=REGION)
    stub = Stubber(ddb)
    stub.add_response("scan", {"Items": [{"name": {"S": "B"}}], "LastEvaluatedKey": {"name": {"S": "B"}}})
    stub.add_response("scan", {"Items": [{"name": {"S": "A"}}]})
    # WHEN the watchlist is listed
    with stub:
        rows = ddb_ops.items_list("t", ddb)
    # THEN both pages are in it
    stub.assert_no_pending_responses()
    assert [r["name"] for r in rows] == ["A", "B"]
