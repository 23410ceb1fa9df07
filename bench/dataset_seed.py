"""The seeded bucket of bench/dataset.py: 90 days of results for 1,000 companies, served by a moto process.

    python -m bench.dataset_seed --bucket NAME --companies 1000 --days 90 --rate 0.01 --rows-out PATH

Runs the local mode's moto server (watchlist_workstation/local/moto_server) after putting the objects
straight into moto's S3 model in this process: some 230,000 PutObject calls over HTTP would take the
better part of an hour here, and only the reads are measured. Prints `READY <port>` like the server.

The objects are the ones the pipeline wrote before the dataset issue (docs/dataset.md, "Where the objects
are"): one CSV per consumer batch, under `results/dt=<date the run was requested>/part-<32 hex>.csv`, the
header and rows as lib/results.py wrote them. Every 5-minute tick of the `--days` days that end now, each
company's text changes with probability `--rate`; the companies queued by a tick are cut into consumer
batches of the template's default ConsumerBatchSize, and a batch holding any changed company writes one
object. `--rows-out` receives, as JSON Lines, each company's rows of the last two days and its latest
row, so that the bench can record them in the table the way the consumer did.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from bench.local_e2e import CITIES, CLOSINGS, OPENINGS, PEOPLE, TONES
from lib.clock import iso
from lib.results import ResultRow, batch_key, text_sha256, to_csv

TICK = timedelta(minutes=5)
BATCH_SIZE = 10  # template.yml's ConsumerBatchSize default
ACCOUNT = "123456789012"  # moto's default account, the one any key that is not a role's maps to


def company_names(count: int) -> list[str]:
    return [f"Bench Company {index:05d}" for index in range(count)]


def page_text(rng: random.Random, name: str) -> str:
    """A synthetic intro of three paragraphs (the Action API's intros run to several)."""
    tone = rng.choice(sorted(TONES))
    first = OPENINGS[rng.randrange(len(OPENINGS))].format(
        name=name, year=rng.randrange(1900, 2020), city=rng.choice(CITIES)
    )
    middle = " ".join(rng.sample(TONES[tone], 3))
    last = CLOSINGS[rng.randrange(len(CLOSINGS))].format(person=rng.choice(PEOPLE), ticker=f"BX{rng.randrange(999)}")
    return f"{first} {middle}\n\n{' '.join(rng.sample(TONES[tone], 2))} {first}\n\n{last} {middle}"


def scores(rng: random.Random) -> tuple[str, dict[str, float]]:
    raw = [rng.random() ** 2 for _ in range(4)]
    total = sum(raw)
    values = dict(zip(("positive", "negative", "neutral", "mixed"), (round(v / total, 6) for v in raw), strict=True))
    return max(values, key=values.get).upper(), values


def generate(companies: int, days: int, rate: float, now: datetime, seed: int):
    """(key, rows) per object of the CSV layout (schema 1), in time order."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic rows, not secrets
    names = company_names(companies)
    first_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    revision = dict.fromkeys(names, 1000)
    tick = first_day
    while tick <= now:
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        changed = [index for index in range(companies) if rng.random() < rate]
        batches: dict[int, list[ResultRow]] = {}
        for index in changed:
            name = names[index]
            revision[name] += rng.randrange(1, 5)
            text = page_text(rng, name)
            label, values = scores(rng)
            analysed = tick + timedelta(seconds=5 + index * 0.01, microseconds=rng.randrange(10**6))
            row = ResultRow(
                name=name,
                sentiment=label,
                **values,
                text=text,
                text_sha256=text_sha256(text),
                source_url=f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}",
                analyzed_at=iso(analysed),
                run_id=run_id,
                revision=revision[name],
            )
            batches.setdefault(index // BATCH_SIZE, []).append(row)
        for rows in batches.values():
            # The consumer's key of the batch, as the CSV layout named it (.csv).
            key = batch_key("results", rows, tick.strftime("%Y-%m-%d")).removesuffix(".jsonl") + ".csv"
            yield key, rows
        tick += TICK


def seed(args: argparse.Namespace) -> dict:
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT]["aws"]
    backend.create_bucket(args.bucket, "us-east-1")
    now = datetime.fromisoformat(args.now)
    recent_from = (now - timedelta(days=1)).strftime("%Y-%m-%d")
    latest: dict[str, tuple[str, dict]] = {}
    objects = rows = 0
    with open(args.rows_out, "w", encoding="utf-8") as out:
        for key, batch in generate(args.companies, args.days, args.rate, now, args.seed):
            backend.put_object(args.bucket, key, to_csv(batch))
            objects += 1
            rows += len(batch)
            for row in map(asdict, batch):
                latest[row["name"]] = (key, row)
                if row["analyzed_at"][:10] >= recent_from:
                    out.write(json.dumps({"key": key, "row": row}) + "\n")
        for key, row in latest.values():
            if row["analyzed_at"][:10] < recent_from:
                out.write(json.dumps({"key": key, "row": row}) + "\n")
    return {"objects": objects, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset_seed")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--companies", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--now", required=True, help="ISO-8601 UTC: the seeded days end here")
    parser.add_argument("--rows-out", type=Path, required=True)
    parser.add_argument("--counts-out", type=Path, required=True)
    args, server_args = parser.parse_known_args()
    args.counts_out.write_text(json.dumps(seed(args)))
    from watchlist_workstation.local.moto_server.__main__ import main as serve

    return serve(server_args)  # --host and --port, as MotoProcess passes them


if __name__ == "__main__":
    sys.exit(main())
