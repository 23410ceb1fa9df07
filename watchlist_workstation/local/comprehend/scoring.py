"""Comprehend's sentiment answer from a real local model, VADER: what local mode's Comprehend endpoint scores with.

Scoring. Comprehend scores only the first 500 characters of a document for sentiment
(Comprehend developer guide, "Guidelines and quotas"); so does this endpoint: the size
limit is checked on the whole document, then `text[:500]` (500 code points) is scored.
VADER (vaderSentiment 3.3.2, lexicon inside the package, offline) returns `pos`, `neg`,
`neu` (the shares of the text carrying each polarity, summing to 1) and `compound` (the
net valence, normalised to [-1, 1]). They map to Comprehend's four scores like this:

- Mixed: evidence that the text carries both polarities: the balance between them
  (weaker share / stronger share) times how much of the text the weaker one covers
  (saturating at 15%): `mixed = (min(pos, neg) / max(pos, neg)) * min(1, min(pos, neg) / 0.15)`.
  "love the culture and hate the pay" is Mixed; a warm text with one "decline" is not.
- The rest, `1 - mixed`, is split between the compound's side (Positive when compound
  > 0, Negative when < 0) and Neutral by `share = |compound| ** k`, a curve through
  (0, 0), (0.05, 0.5) and (1, 1) (k = ln 0.5 / ln 0.05 ~ 0.231): `polar = (1 - mixed) * share`.
  So the polar score passes Neutral exactly at VADER's documented threshold |compound| =
  0.05, and clearly-valenced text gets Comprehend-like confidences (compound 0.9 -> 0.98).
- The opposite polarity scores 0: compound is already net of it, and its presence is
  what Mixed measures.
- Neutral is the remainder, `1 - mixed - polar`, clamped at 0, so the four sum to 1.
- The label is the argmax: MIXED when mixed beats both other scores; else POSITIVE or
  NEGATIVE when |compound| >= 0.05 (VADER's inclusive threshold, which also settles the
  exact tie at 0.05); else NEUTRAL. Text with no scorable tokens is NEUTRAL with 1.0.

VADER is English-only. Every language Comprehend supports for sentiment is accepted and
scored by the same model, so non-English text mostly comes out NEUTRAL (its words are
not in the lexicon); that is a limit of local mode, not of the pipeline.

One SentimentIntensityAnalyzer serves every request: after __init__ its polarity_scores
only reads the instance's lexicon and emoji dicts and keeps its per-call state in locals
(vaderSentiment 3.3.2 source), so concurrent calls need no lock; only its creation does.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

# Comprehend scores the first 500 characters for sentiment (lib/limits.py says the same in a comment;
# it has no constant for it yet).
SCORED_CHARS = 500
# VADER's own rule: compound >= 0.05 positive, <= -0.05 negative, otherwise neutral.
POLARITY_THRESHOLD = 0.05
# The share of the text the weaker polarity must cover for Mixed evidence to be full.
MIXED_SATURATION = 0.15
# share = |compound| ** k passes through (threshold, 0.5): the polar score ties Neutral there.
_SHARE_EXPONENT = math.log(0.5) / math.log(POLARITY_THRESHOLD)

Scorer = Callable[[str], Mapping[str, float]]


_analyzer: Any = None
_analyzer_lock = threading.Lock()


def vader_scores(text: str) -> Mapping[str, float]:
    """VADER's polarity scores from the one shared analyzer, created on first use (never at import)."""
    global _analyzer
    if _analyzer is None:
        with _analyzer_lock:
            if _analyzer is None:
                # Imported here: the package is a workstation dependency (requirements-dev.txt) and loading
                # its lexicon takes a moment that importing this module should not pay.
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer.polarity_scores(text)


def sentiment_from_vader(vader: Mapping[str, float]) -> dict[str, Any]:
    """Comprehend's {Sentiment, SentimentScore} from VADER's {pos, neg, neu, compound} (module docstring)."""
    pos, neg, compound = float(vader["pos"]), float(vader["neg"]), float(vader["compound"])
    weaker, stronger = min(pos, neg), max(pos, neg)
    mixed = (weaker / stronger) * min(1.0, weaker / MIXED_SATURATION) if stronger > 0 else 0.0
    polar = (1.0 - mixed) * abs(compound) ** _SHARE_EXPONENT
    positive = polar if compound > 0 else 0.0
    negative = polar if compound < 0 else 0.0
    # The remainder, so the four sum to 1; the clamp absorbs a rounding step below zero.
    neutral = max(0.0, 1.0 - mixed - positive - negative)
    if mixed > max(polar, neutral):
        label = "MIXED"
    elif abs(compound) >= POLARITY_THRESHOLD:
        label = "POSITIVE" if compound > 0 else "NEGATIVE"
    else:
        label = "NEUTRAL"
    return {
        "Sentiment": label,
        "SentimentScore": {"Positive": positive, "Negative": negative, "Neutral": neutral, "Mixed": mixed},
    }


def score_text(text: str, scorer: Scorer | None = None) -> dict[str, Any]:
    """Comprehend's sentiment answer for one document: only its first 500 characters count."""
    return sentiment_from_vader((scorer or vader_scores)(text[:SCORED_CHARS]))
