"""Label-change notifications from the consumer on chunks: one SNS message per batch of changes, none for a first
analysis or an unchanged label, and a failed Publish that hands the changed companies back with their old state."""

from __future__ import annotations

import dataclasses
import json
import uuid

import boto3
import pytest

from tests.consumer_fixture import chunk, redelivered

NEGATIVE_SCORES = "(positive 0.05, negative 0.85, neutral 0.08, mixed 0.02)"


@pytest.fixture
def topic(pipeline):
    """A moto SNS topic with an SQS queue subscribed to it, to read back what the consumer published."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    arn = sns.create_topic(Name=f"notify-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"inbox-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)

    class Topic:
        def __init__(self) -> None:
            self.arn = arn

        def config(self, topic_arn=arn):
            return dataclasses.replace(pipeline.config, label_change_topic_arn=topic_arn)

        def published(self) -> list[tuple[str, str]]:
            """(Subject, Message) of every notification so far, read off the subscribed queue."""
            out = []
            while True:
                messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
                if not messages:
                    return out
                for m in messages:
                    envelope = json.loads(m["Body"])
                    out.append((envelope["Subject"], envelope["Message"]))
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])

    return Topic()


def analysed_once(pipeline, pages: dict[str, str], config) -> None:
    """GIVEN-step: the companies are on the watchlist and were analysed once with these texts."""
    pipeline.watch(pages)
    assert pipeline.run([chunk(pages, run_id="run-1")], config=config).failures == []


def next_tick(pipeline, names, config, run_id="run-2"):
    """The next tick's chunk of these companies, with the table's state as the producer would carry it."""
    return pipeline.run([chunk(pipeline.snapshot(names), run_id=run_id)], config=config)


def test_label_changes_of_a_batch_are_published_as_one_message(pipeline, topic):
    # GIVEN three companies analysed as POSITIVE, and new texts that turn two of them NEGATIVE
    pages = {
        "Alpha Co": "Alpha Co posted record growth.",
        "Beta Co": "Beta Co won an award.",
        "Gamma Co": "Gamma Co won an award.",
    }
    analysed_once(pipeline, pages, topic.config())
    assert topic.published() == []  # a first analysis is no change
    pipeline.wiki.add_page("Alpha Co", "Alpha Co faces a lawsuit.")
    pipeline.wiki.add_page("Beta Co", "Beta Co reported a loss.")
    # WHEN the next batch is processed
    outcome = next_tick(pipeline, pages, topic.config())
    # THEN exactly one message lists both changes, and the table holds the new labels
    assert outcome.failures == [] and outcome.counts["label_changes_notified"] == 2
    ((subject, body),) = topic.published()
    assert subject == "Sentiment label changed for 2 companies"
    lines = body.splitlines()
    assert lines[:4] == [
        "2 companies on the watchlist have a new sentiment label:",
        "",
        f"Alpha Co: POSITIVE -> NEGATIVE {NEGATIVE_SCORES}",
        f"Beta Co: POSITIVE -> NEGATIVE {NEGATIVE_SCORES}",
    ]
    assert lines[5].startswith("Analysed at ") and lines[5].endswith(" (run run-2).")
    assert lines[6] == f"Results: s3://{pipeline.res.bucket}/{pipeline.item('Alpha Co')['result_key']['S']}"
    assert [pipeline.item(n)["sentiment"]["S"] for n in pages] == ["NEGATIVE", "NEGATIVE", "POSITIVE"]


def test_one_change_names_the_company_in_the_subject(pipeline, topic):
    analysed_once(pipeline, {"Delta Co": "Delta Co won an award."}, topic.config())
    pipeline.wiki.add_page("Delta Co", "Delta Co faces fraud charges.")
    next_tick(pipeline, ["Delta Co"], topic.config())
    ((subject, body),) = topic.published()
    assert subject == "Sentiment changed: Delta Co POSITIVE -> NEGATIVE"
    assert body.splitlines()[0] == "1 company on the watchlist has a new sentiment label:"


def test_a_new_text_with_the_same_label_publishes_nothing(pipeline, topic):
    # GIVEN a company analysed as POSITIVE, whose text changes but stays positive
    analysed_once(pipeline, {"Echo Co": "Echo Co won an award."}, topic.config())
    pipeline.wiki.add_page("Echo Co", "Echo Co posted record growth.")
    # WHEN analysed again THEN it was analysed, and nothing was published
    outcome = next_tick(pipeline, ["Echo Co"], topic.config())
    assert outcome.counts["analysed"] == 1 and "label_changes_notified" not in outcome.counts
    assert topic.published() == []


def test_a_first_analysis_publishes_nothing(pipeline, topic):
    # GIVEN companies never analysed  WHEN analysed  THEN no notification: there is no old label to change from
    pipeline.watch({"Foxtrot Co": "Foxtrot Co faces a lawsuit.", "Golf Co": "Golf Co won an award."})
    outcome = pipeline.run([chunk(["Foxtrot Co", "Golf Co"])], config=topic.config())
    assert outcome.counts["analysed"] == 2 and topic.published() == []


def test_without_a_topic_label_changes_publish_nothing(pipeline, topic):
    # GIVEN NotifyOnLabelChange off (LABEL_CHANGE_TOPIC_ARN empty) and a label that changes
    assert pipeline.config.label_change_topic_arn is None
    analysed_once(pipeline, {"Hotel Co": "Hotel Co won an award."}, pipeline.config)
    pipeline.wiki.add_page("Hotel Co", "Hotel Co faces a lawsuit.")
    # WHEN analysed again THEN the table has the new label and the topic got nothing
    outcome = next_tick(pipeline, ["Hotel Co"], pipeline.config)
    assert outcome.failures == [] and pipeline.item("Hotel Co")["sentiment"]["S"] == "NEGATIVE"
    assert topic.published() == []


def test_a_failed_publish_fails_only_the_changed_records_and_keeps_their_old_state(pipeline, topic):
    # GIVEN three companies analysed as POSITIVE; two get negative texts, one a new positive text
    pages = {
        "India Co": "India Co won an award.",
        "Juliet Co": "Juliet Co won an award.",
        "Kilo Co": "Kilo Co won an award.",
    }
    analysed_once(pipeline, pages, topic.config())
    before = {n: pipeline.item(n) for n in pages}
    pipeline.wiki.add_page("India Co", "India Co faces a lawsuit.")
    pipeline.wiki.add_page("Juliet Co", "Juliet Co reported a loss.")
    pipeline.wiki.add_page("Kilo Co", "Kilo Co posted record growth.")
    record = chunk(pipeline.snapshot(pages), run_id="run-2")
    # WHEN the chunk is processed and Publish fails (the topic is gone)
    missing = topic.arn + "-deleted"
    outcome = pipeline.run([record], config=topic.config(missing))
    # THEN the message comes back for the two changed companies, whose table state is untouched
    assert outcome.failures == [record["messageId"]]
    assert outcome.counts["notify_error"] == 2
    assert pipeline.item("India Co") == before["India Co"] and pipeline.item("Juliet Co") == before["Juliet Co"]
    # AND the record whose label did not change was stored
    assert pipeline.item("Kilo Co")["text_sha256"]["S"] != before["Kilo Co"]["text_sha256"]["S"]
    # AND when Lambda delivers the chunk again, the two changes are found again and published once
    again = redelivered(record)
    retried = pipeline.run([again], config=topic.config())
    assert retried.failures == [] and retried.counts["analysed"] == 2
    ((subject, _),) = topic.published()
    assert subject == "Sentiment label changed for 2 companies"
    assert pipeline.item("India Co")["sentiment"]["S"] == "NEGATIVE"
