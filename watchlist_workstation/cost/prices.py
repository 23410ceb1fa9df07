"""The one price table: us-east-1 list prices in USD, each with its unit, its source and its free tier.

Confirmed on PRICES_CONFIRMED against the pages named in `source` (stored copies of AWS's pricing
pages and developer guides; where a page renders its table from templates, the figure was checked
against AWS's own worked examples or a dated third-party transcription, said in `checked`). Prices
change: re-check them and move the date when you do. Nothing here is fetched at run time.

Free tier, two kinds, never mixed:
- "always": offers every account gets every month, without end (Lambda, SQS, DynamoDB storage,
  CloudWatch, SNS). The estimate deducts these, on a line of their own.
- "12-month": offers for the first 12 months of accounts created before 2025-07-15 (S3, Comprehend).
  Accounts created since get sign-up credits instead (AWS Free Tier page). The estimate shows what
  they would take off but never deducts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PRICES_CONFIRMED = "2026-11-28"
REGION = "us-east-1"
ALWAYS = "always"
TWELVE_MONTH = "12-month"

GIB = 1024**3


@dataclass(frozen=True)
class Tier:
    up_to: float | None  # the monthly quantity where this tier ends (cumulative); None: no end
    price: float  # USD per one unit of the Price's `unit`


@dataclass(frozen=True)
class Price:
    key: str
    service: str
    item: str
    unit: str  # what one quantity is: "request", "GB-second", "GB-month", ...
    tiers: tuple[Tier, ...]
    source: str
    per: int = 1  # display the price per this many units ("$0.20 per 1M requests")
    checked: str = ""

    def cost(self, quantity: float) -> float:
        """The list cost of `quantity` units in one month, tier by tier."""
        total, floor = 0.0, 0.0
        for tier in self.tiers:
            ceiling = quantity if tier.up_to is None else min(quantity, tier.up_to)
            if ceiling > floor:
                total += (ceiling - floor) * tier.price
            if tier.up_to is None or quantity <= tier.up_to:
                break
            floor = tier.up_to
        return total

    def display(self) -> str:
        """The first tier's price as the pricing pages put it: "$0.20 per 1M requests"."""
        amount = f"{self.tiers[0].price * self.per:.10f}".rstrip("0")
        whole, _, decimals = amount.partition(".")
        amount = f"{whole}.{decimals:0<2}"
        scale = {1: "", 1000: "1,000 ", 100_000: "100K ", 1_000_000: "1M "}.get(self.per, f"{self.per:,} ")
        label = f"${amount} per {scale}{self.unit}{'s' if self.per > 1 else ''}"
        return label + (" (first tier)" if len(self.tiers) > 1 else "")


@dataclass(frozen=True)
class FreeTier:
    keys: tuple[str, ...]  # prices that share the allowance
    allowance: float  # units per month
    kind: str  # ALWAYS or TWELVE_MONTH
    description: str
    source: str


def _flat(price: float) -> tuple[Tier, ...]:
    return (Tier(None, price),)


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_COMPREHEND = "https://aws.amazon.com/comprehend/pricing/"
_EVENTS = "https://aws.amazon.com/eventbridge/pricing/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_SNS = "https://aws.amazon.com/sns/pricing/"
_FREE = "https://aws.amazon.com/free/"

PRICES: dict[str, Price] = {
    p.key: p
    for p in (
        Price(
            "lambda.requests",
            "Lambda",
            "requests",
            "request",
            _flat(0.20 / 1e6),
            _LAMBDA,
            per=1_000_000,
            checked="pricing page and AWS whitepaper 'How AWS Pricing Works' (Lambda): $0.20 per 1M",
        ),
        Price(
            "lambda.duration.arm64",
            "Lambda",
            "compute, arm64",
            "GB-second",
            (Tier(7.5e9, 0.0000133334), Tier(18.75e9, 0.0000120001), Tier(None, 0.0000106667)),
            _LAMBDA,
            checked="pricing page's Arm table (tiers at 7.5B and 18.75B GB-s/month), as transcribed by cloudchipr.com",
        ),
        Price(
            "lambda.duration.x86_64",
            "Lambda",
            "compute, x86_64",
            "GB-second",
            (Tier(6e9, 0.0000166667), Tier(15e9, 0.000015), Tier(None, 0.0000133334)),
            _LAMBDA,
            checked="pricing page's x86 table; the first tier also in 'How AWS Pricing Works'",
        ),
        Price(
            "sqs.requests",
            "SQS",
            "requests",
            "request",
            (Tier(100e9, 0.40 / 1e6), Tier(200e9, 0.30 / 1e6), Tier(None, 0.24 / 1e6)),
            _SQS,
            per=1_000_000,
            checked="standard queues; every API action is a request, each 64 KB of payload one more",
        ),
        Price(
            "dynamodb.read_units",
            "DynamoDB",
            "read request units",
            "read request unit",
            _flat(0.125 / 1e6),
            _DDB,
            per=1_000_000,
            checked="on-demand, Standard table class, after the 2024-11-01 price cut",
        ),
        Price(
            "dynamodb.write_units",
            "DynamoDB",
            "write request units",
            "write request unit",
            _flat(0.625 / 1e6),
            _DDB,
            per=1_000_000,
            checked="on-demand, Standard table class, after the 2024-11-01 price cut",
        ),
        Price("dynamodb.storage", "DynamoDB", "table storage", "GB-month", _flat(0.25), _DDB),
        Price(
            "dynamodb.pitr",
            "DynamoDB",
            "point-in-time recovery",
            "GB-month",
            _flat(0.20),
            _DDB,
            checked="continuous backups, billed on the table's size",
        ),
        Price(
            "s3.put_requests",
            "S3",
            "PUT/COPY/POST/LIST requests",
            "request",
            _flat(0.005 / 1000),
            _S3,
            per=1000,
            checked="S3 Standard",
        ),
        Price("s3.get_requests", "S3", "GET requests", "request", _flat(0.0004 / 1000), _S3, per=1000),
        Price(
            "s3.storage",
            "S3",
            "Standard storage",
            "GB-month",
            (Tier(50 * 1024, 0.023), Tier(500 * 1024, 0.022), Tier(None, 0.021)),
            _S3,
        ),
        Price(
            "comprehend.units",
            "Comprehend",
            "sentiment units",
            "unit (100 characters)",
            (Tier(10e6, 0.0001), Tier(50e6, 0.00005), Tier(None, 0.000025)),
            _COMPREHEND,
            checked=(
                "3-unit minimum per document and $0.0001 per unit are on the page; its tier table renders from "
                "templates in the stored copies, so the 10M/50M tiers are AWS's long-published ones, unverified "
                "here (above 100M units a month AWS prices on request)"
            ),
        ),
        Price(
            "events.scheduled",
            "EventBridge",
            "scheduled rule events",
            "event",
            _flat(0.0),
            _EVENTS,
            checked=(
                "a scheduled rule's events come from EventBridge itself and are not billed as custom events; "
                "EventBridge Scheduler would be $1.00 per 1M invocations after 14M free a month"
            ),
        ),
        Price(
            "logs.ingestion",
            "CloudWatch Logs",
            "ingestion",
            "GB",
            (Tier(10 * 1024, 0.50), Tier(30 * 1024, 0.25), Tier(50 * 1024, 0.10), Tier(None, 0.05)),
            _CLOUDWATCH,
            checked="Lambda logs are vended logs: $0.50/GB for the first 10 TB, then volume tiers",
        ),
        Price(
            "logs.storage",
            "CloudWatch Logs",
            "archive storage",
            "GB-month",
            _flat(0.03),
            _CLOUDWATCH,
            checked="billed on compressed bytes; the estimate counts them uncompressed, so it errs high",
        ),
        Price(
            "cloudwatch.metrics",
            "CloudWatch",
            "custom metrics",
            "metric-month",
            (Tier(10_000, 0.30), Tier(250_000, 0.10), Tier(1_000_000, 0.05), Tier(None, 0.02)),
            _CLOUDWATCH,
            checked=(
                "the page's metrics table renders from templates in the stored copies; $0.30 per metric-month for "
                "the first 10,000, then $0.10, $0.05 and $0.02 at 250K and 1M, as transcribed in "
                "github.com/nishinoshake/aws-rough issue 37 and by vantage.sh; prorated by the hour, so a metric "
                "costs only in the hours it receives data; metrics from the embedded metric format are custom "
                "metrics, and their log lines are billed as log ingestion"
            ),
        ),
        Price(
            "cloudwatch.alarms",
            "CloudWatch",
            "standard-resolution alarms",
            "alarm-month",
            _flat(0.10),
            _CLOUDWATCH,
        ),
        Price("sns.publish", "SNS", "publishes", "request", _flat(0.50 / 1e6), _SNS, per=1_000_000),
        Price("sns.email", "SNS", "e-mail notifications", "notification", _flat(2.00 / 100_000), _SNS, per=100_000),
    )
}

FREE_TIERS: tuple[FreeTier, ...] = (
    FreeTier(("lambda.requests",), 1_000_000, ALWAYS, "1M Lambda requests", _LAMBDA),
    FreeTier(
        ("lambda.duration.arm64", "lambda.duration.x86_64"),
        400_000,
        ALWAYS,
        "400,000 GB-s of Lambda compute (both architectures)",
        _LAMBDA,
    ),
    FreeTier(("sqs.requests",), 1_000_000, ALWAYS, "1M SQS requests", _SQS),
    # The 25 WCU/RCU DynamoDB free tier is provisioned capacity; on-demand requests have none.
    FreeTier(("dynamodb.storage",), 25, ALWAYS, "25 GB of DynamoDB storage", _DDB),
    FreeTier(
        ("logs.ingestion", "logs.storage"),
        5,
        ALWAYS,
        "5 GB of CloudWatch Logs (ingestion and archive together)",
        _CLOUDWATCH,
    ),
    FreeTier(("cloudwatch.metrics",), 10, ALWAYS, "10 custom metrics", _CLOUDWATCH),
    FreeTier(("cloudwatch.alarms",), 10, ALWAYS, "10 standard alarms", _CLOUDWATCH),
    FreeTier(("sns.publish",), 1_000_000, ALWAYS, "1M SNS publishes", _SNS),
    FreeTier(("sns.email",), 1_000, ALWAYS, "1,000 SNS e-mails", _SNS),
    FreeTier(("s3.storage",), 5, TWELVE_MONTH, "5 GB of S3 Standard", _FREE),
    FreeTier(("s3.put_requests",), 2_000, TWELVE_MONTH, "2,000 S3 PUT requests", _FREE),
    FreeTier(("s3.get_requests",), 20_000, TWELVE_MONTH, "20,000 S3 GET requests", _FREE),
    FreeTier(("comprehend.units",), 50_000, TWELVE_MONTH, "50K Comprehend units per API", _COMPREHEND),
)


def free_tiers(kind: str) -> Iterable[FreeTier]:
    return (f for f in FREE_TIERS if f.kind == kind)
