"""lib/notify.py: the label-change message's Subject and body stay within SNS's limits and readable."""

from __future__ import annotations

from lib.limits import NOTIFY_MAX_LISTED, NOTIFY_MAX_MESSAGE_BYTES, SNS_SUBJECT_MAX_CHARS
from lib.notify import LabelChange, message, subject
from tests.conftest import result_row


def change(name: str, old: str = "POSITIVE", new: str = "NEGATIVE") -> LabelChange:
    return LabelChange(name, old, new, 0.1, 0.7, 0.15, 0.05)


def body(changes: list[LabelChange]) -> str:
    return message(changes, analyzed_at="2026-11-27T12:00:05Z", run_ids=["run-2"], results_uri="s3://b/k.csv")


def test_a_change_is_only_a_different_label_after_a_known_one():
    row = result_row("Acme", "2026-11-27T12:00:05Z", positive=0.9)  # POSITIVE
    assert LabelChange.between(None, row) is None  # first analysis
    assert LabelChange.between("POSITIVE", row) is None  # same label
    assert LabelChange.between("NEGATIVE", row) == LabelChange(
        "Acme", "NEGATIVE", "POSITIVE", row.positive, row.negative, row.neutral, row.mixed
    )


def test_the_body_lists_each_change_by_name_with_its_scores():
    assert body([change("Zeta"), change("Acme", "NEUTRAL", "MIXED")]) == (
        "2 companies on the watchlist have a new sentiment label:\n"
        "\n"
        "Acme: NEUTRAL -> MIXED (positive 0.10, negative 0.70, neutral 0.15, mixed 0.05)\n"
        "Zeta: POSITIVE -> NEGATIVE (positive 0.10, negative 0.70, neutral 0.15, mixed 0.05)\n"
        "\n"
        "Analysed at 2026-11-27T12:00:05Z (run run-2).\n"
        "Results: s3://b/k.csv\n"
    )


def test_a_long_list_is_cut_with_and_n_more():
    # GIVEN more changes than a message lists  WHEN formatted  THEN the first ones by name, then the count of the rest
    changes = [change(f"Company {i:03d}") for i in range(NOTIFY_MAX_LISTED + 7)]
    lines = body(changes).splitlines()
    listed = [line for line in lines if line.startswith("Company ")]
    assert len(listed) == NOTIFY_MAX_LISTED and listed[0].startswith("Company 000:")
    assert "and 7 more" in lines


def test_long_names_keep_the_message_under_its_byte_cap():
    # GIVEN fifty changes of 255-character names in a 4-byte script  THEN the message stays under the cap
    changes = [change(f"{i:02d}" + "\U0001f600" * 253) for i in range(NOTIFY_MAX_LISTED)]
    text = body(changes)
    assert len(text.encode("utf-8")) <= NOTIFY_MAX_MESSAGE_BYTES
    assert text.splitlines()[-4].startswith("and ") and text.splitlines()[-4].endswith(" more")


def test_the_subject_is_short_printable_ascii_whatever_the_names():
    for changes in ([change("Nestlé")], [change("N" * 255)], [change("A"), change("B")]):
        text = subject(changes)
        assert len(text) <= SNS_SUBJECT_MAX_CHARS and all(" " <= ch <= "~" for ch in text)
    assert subject([change("Nestlé")]) == "Sentiment label changed for 1 company"
    assert subject([change("Acme")]) == "Sentiment changed: Acme POSITIVE -> NEGATIVE"
