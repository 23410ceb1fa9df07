"""Label-change notifications: the companies of one consumer batch whose sentiment label changed, as one
SNS message.

One message per batch, never one per company: a batch is the unit the consumer writes and retries, and
a news day that flips twenty labels should fill one e-mail, not twenty. The message is plain text, as
an e-mail subscription shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.clients import client
from lib.limits import NOTIFY_MAX_LISTED, NOTIFY_MAX_MESSAGE_BYTES, SNS_SUBJECT_MAX_CHARS
from lib.results import ResultRow


@dataclass(frozen=True)
class LabelChange:
    name: str
    old: str
    new: str
    positive: float
    negative: float
    neutral: float
    mixed: float

    @classmethod
    def between(cls, previous: str | None, row: ResultRow) -> LabelChange | None:
        """The change from the stored label to the row's; None for a first analysis or the same label."""
        if not previous or previous == row.sentiment:
            return None
        return cls(row.name, previous, row.sentiment, row.positive, row.negative, row.neutral, row.mixed)

    def line(self) -> str:
        scores = {"positive": self.positive, "negative": self.negative, "neutral": self.neutral, "mixed": self.mixed}
        return f"{self.name}: {self.old} -> {self.new} ({', '.join(f'{k} {v:.2f}' for k, v in scores.items())})"


def _is_subject_safe(text: str) -> bool:
    # SNS accepts a Subject of ASCII printable characters only, without line breaks, up to 100 of them.
    return len(text) <= SNS_SUBJECT_MAX_CHARS and all(" " <= ch <= "~" for ch in text)


def subject(changes: Sequence[LabelChange]) -> str:
    """A short Subject: the company and its labels for one change, else how many changed."""
    if len(changes) == 1:
        change = changes[0]
        one = f"Sentiment changed: {change.name} {change.old} -> {change.new}"
        if _is_subject_safe(one):
            return one
    noun = "company" if len(changes) == 1 else "companies"
    return f"Sentiment label changed for {len(changes)} {noun}"


def message(changes: Sequence[LabelChange], *, analyzed_at: str, run_ids: Sequence[str], results_uri: str) -> str:
    """The body: one line per change (sorted by name), capped at NOTIFY_MAX_LISTED lines and
    NOTIFY_MAX_MESSAGE_BYTES, the rest counted as "and N more"."""
    ordered = sorted(changes, key=lambda c: c.name)
    noun = "company on the watchlist has" if len(ordered) == 1 else "companies on the watchlist have"
    head = f"{len(ordered)} {noun} a new sentiment label:\n\n"
    runs = ", ".join(sorted(set(run_ids)))
    foot = f"\nAnalysed at {analyzed_at} (run {runs}).\nResults: {results_uri}\n"
    # The footer's run ids come from the batch's messages (one or two runs in practice); it is counted too.
    budget = NOTIFY_MAX_MESSAGE_BYTES - len((head + foot).encode("utf-8")) - len("and 99999 more\n")
    lines: list[str] = []
    for change in ordered[:NOTIFY_MAX_LISTED]:
        line = change.line() + "\n"
        budget -= len(line.encode("utf-8"))
        if budget < 0:
            break
        lines.append(line)
    if len(lines) < len(ordered):
        lines.append(f"and {len(ordered) - len(lines)} more\n")
    return head + "".join(lines) + foot


def publish_label_changes(
    topic_arn: str,
    changes: Sequence[LabelChange],
    *,
    analyzed_at: str,
    run_ids: Sequence[str],
    results_uri: str,
    sns: Any = None,
) -> str:
    """Publish one message for the batch's changes; returns SNS's MessageId. Raises what Publish raises."""
    sns = sns or client("sns")
    body = message(changes, analyzed_at=analyzed_at, run_ids=run_ids, results_uri=results_uri)
    return sns.publish(TopicArn=topic_arn, Subject=subject(changes), Message=body)["MessageId"]
