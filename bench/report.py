"""One table of what `make bench` measured, beside the prototype's pattern, with the date and the machine.

    .venv/bin/python -m bench.report [--dir build/bench] [--markdown-out PATH]

Measures nothing itself: it reads what `make bench` writes into --dir,

    api_calls.json  import_time.json  local_e2e.json  polite_scale.json  sqs_depth.json  ddb_update.json
                    each bench's own figures, targets and verdict (its --json-out)
    build.json      the build's size report (scripts/2-build-layers.sh --json, watchlist_workstation/deploy/build.py)
    cost.json       ./cfcli.py cost --companies 1000 --compare-prototype --json

and prints one markdown table: what, this pipeline, the prototype's pattern (or the baseline the
bench measures against), the ratio, the target and PASS or FAIL. A row's target is its bench's
own (bench/polite_scale.py writes its figures and verdicts but not its targets, so they are read from
its module); a comparison with the prototype that no bench holds to a number must at least beat the
prototype, whose per-company figures are the ones bench/local_e2e.py measures for its pattern. The
one figure not measured here, the prototype's layer size, comes from docs/design.md and is labelled
so. A missing or unreadable file is a FAIL row, never a figure left out quietly.

Exit status 1 when a row fails or a bench's own verdict (all of its checks) is a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.dataset import report_rows as dataset_rows
from bench.polite_scale import MAX_IN_FLIGHT, MAX_REQUESTS_PER_COMPANY
from bench.polite_scale import TARGET_RSS as POLITE_RSS

ROOT = Path(__file__).resolve().parents[1]
BENCHES = (
    "api_calls",
    "import_time",
    "local_e2e",
    "polite_scale",
    "producer_scale",
    "sqs_depth",
    "ddb_update",
    "dataset",
)

# docs/design.md, "The prototype this product replaces": its layer shipped pandas and numpy, "about 156 MB
# unzipped". The prototype is not in this repository, so this is the one figure in the table that
# is quoted, not measured.
PROTOTYPE_LAYER_BYTES = 156_000_000

# How moto's request counter names services (watchlist_workstation/local/moto_server/counting.py:
# operation_key): JSON-protocol services by their X-Amz-Target, everything else by HTTP method, which in
# the pipeline is S3 alone.
SERVICES = {"sqs": "SQS", "comprehend": "Comprehend", "dynamodb": "DynamoDB", "http": "S3"}
NOT_AWS = "text:"  # the text source's GETs: Wikipedia, not an AWS call
WIKIPEDIA = "text:GET"
EVERY_TICK = " (an intro request per company, every tick)"
FEWER, NOT_RUN, DRAINED, NONE = (
    "fewer than the prototype's",
    "not run at this size",
    "0, drained in time",
    ("—",) * 3 + (None,),
)


@dataclass(frozen=True)
class Row:
    what: str
    ours: str
    theirs: str
    ratio: str
    target: str
    passed: bool | None  # None: the row has no target (shown as "—")

    @property
    def result(self) -> str:
        return "—" if self.passed is None else ("PASS" if self.passed else "FAIL")


# ---------------------------------------------------------------------------------------------- formatting


def compare(ours: float, theirs: float, better: str, worse: str, *, higher_is_better: bool = False) -> str:
    """'2.8x fewer' or '1.2x more': how many times better (or worse) ours is, '—' against a zero."""
    if not ours or not theirs:
        return "—"
    ahead = ours >= theirs if higher_is_better else ours <= theirs
    factor = max(ours, theirs) / min(ours, theirs)
    return f"{factor:,.1f}x {better if ahead else worse}"


def money(value: float) -> str:
    return f"${value:,.2f}"


def ticks(count: int) -> str:
    return f"{count} tick" if count == 1 else f"{count} ticks"


def mib(value: float) -> str:
    return f"{value / 1024**2:,.0f} MiB"


def about(value: float) -> str:
    """Two significant figures: for ratios against a figure that is itself approximate."""
    return f"{float(f'{value:.2g}'):,.0f}" if value >= 100 else f"{value:.2g}"


# ---------------------------------------------------------------------------------------------- rows by source


def rows_local_e2e(e2e: dict[str, Any]) -> list[Row]:
    small, large, proto = e2e["small"], e2e["large"], e2e["prototype"]
    n, big = small["companies"], large["companies"]
    ours, theirs = e2e["aws_calls_per_company"]["pipeline"], e2e["aws_calls_per_company"]["prototype"]
    what = f"AWS API calls per company, {n:,} companies (local mode, counted where they arrive)"
    rows = [Row(what, f"{ours:.3f}", f"{theirs:.3f}", compare(ours, theirs, "fewer", "more"), FEWER, ours < theirs)]
    by_service = {design: _by_service(e2e["per_company"][design]) for design in ("pipeline", "prototype")}
    for key, name in SERVICES.items():
        ours, theirs = by_service["pipeline"].get(key, 0.0), by_service["prototype"].get(key, 0.0)
        target, passed = FEWER, ours < theirs
        if key == "dynamodb":
            # The table keeps each company's latest revision, text hash and sentiment (docs/design.md, "How it
            # behaves"): the writes buy the skipped requests and Comprehend calls; the prototype kept no state.
            target, passed = "none: the latest state per company (the prototype kept none)", None
        ratio = compare(ours, theirs, "fewer", "more")
        rows.append(Row(f"· {name} calls per company", f"{ours:.3f}", f"{theirs:.3f}", ratio, target, passed))
    ours, theirs = small["rate"], proto["rate"]
    ratio = compare(ours, theirs, "faster", "slower", higher_is_better=True)
    what = f"Companies per second end to end, {n:,} companies (local mode)"
    rows.append(Row(what, f"{ours:.1f}", f"{theirs:.1f}", ratio, "faster than the prototype's", ours > theirs))
    target = e2e["targets"]["rate_at_large"]
    what = f"Companies per second end to end, {big:,} companies (local mode)"
    rows.append(Row(what, f"{large['rate']:.1f}", NOT_RUN, "—", f">= {target:g}", large["rate"] >= target))
    lost = small["unaccounted"] + large["unaccounted"]
    duplicated = small["duplicate_rows"] + large["duplicate_rows"]
    timed_out = small["timed_out"] or large["timed_out"]
    ours = f"{lost} lost, {duplicated} duplicated" + (", a drain timed out" if timed_out else "")
    passed = lost == 0 and duplicated == 0 and not timed_out
    rows.append(Row(f"Companies lost or duplicated, of {n + big:,} (local mode)", ours, "—", "—", DRAINED, passed))
    rss, target = e2e["peak_rss_bytes"], e2e["targets"]["peak_rss_bytes"]
    what = f"Peak memory of local mode, {big:,} companies (all its processes, RSS)"
    rows.append(Row(what, mib(rss), "—", "—", f"<= {mib(target)}", rss <= target))
    return rows


def _by_service(per_company: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for key, value in per_company.items():
        if not key.startswith(NOT_AWS):
            service = key.split(":", 1)[0]
            totals[service] = totals.get(service, 0.0) + value
    return totals


def prototype_per_company(e2e: dict[str, Any] | None) -> dict[str, float]:
    """The prototype's pattern per company as bench/local_e2e.py measured it: AWS calls by service, and `wikipedia`
    (an intro request per company, every tick); empty when local_e2e.json is unusable (its own row says so)."""
    with contextlib.suppress(KeyError, TypeError, AttributeError):
        measured = e2e["per_company"]["prototype"]  # type: ignore[index]
        return {**_by_service(measured), "wikipedia": float(measured.get(WIKIPEDIA, 0.0))}
    return {}


def beside(theirs: float | None, note: str = "") -> str:
    return f"{theirs:.3f}{note}" if theirs is not None else "see the local_e2e rows"


def rows_api_calls(api: dict[str, Any], e2e: dict[str, Any] | None) -> list[Row]:
    """Requests per company on the second tick, nothing changed: the pipeline's own clients, counted by hooks."""
    n, tick2, targets = api["companies"], api["per_company"]["tick2"], api["targets_per_company"]
    # The prototype read and analysed every company on every tick, changed or not (docs/design.md, "The prototype
    # this product replaces"): its figures for a tick with nothing changed are the ones local_e2e measures for any.
    proto, rows = prototype_per_company(e2e), []
    for key, what, note in (
        ("wikipedia", f"Wikipedia requests per company, a tick with nothing changed ({n:,} companies)", EVERY_TICK),
        ("sqs", "· SQS requests per company that tick, the event source mapping's included", ""),
        ("dynamodb_read_units", "· DynamoDB read units per company that tick (the producer's scan)", ""),
        ("comprehend", "· Comprehend calls per company that tick", " (it analyses every tick)"),
    ):
        ours, theirs, target = tick2[key], proto.get(key), targets.get(key, 0)
        shown = "— (it kept no state)" if key == "dynamodb_read_units" else beside(theirs, note)
        ratio, limit = compare(ours, theirs or 0.0, "fewer", "more"), f"<= {target:g}" if target else "0"
        rows.append(Row(what, f"{ours:.4f}", shown, ratio, f"{limit} (bench/api_calls.py)", ours <= target))
    return rows


def rows_polite_scale(polite: dict[str, Any], e2e: dict[str, Any] | None) -> list[Row]:
    """The whole watchlist checked within Wikimedia's limits: requests per company per tick, in flight, memory,
    wall times, and the rounds of the default budget and of a small one (bench/polite_scale.py's phases)."""
    scale, plan, small = polite["scale"], polite["plan"], polite["small"]
    n, first, second = scale["companies"], scale["first"], scale["second"]
    theirs = prototype_per_company(e2e).get("wikipedia")
    new, same = first["text_requests"] / n, second["text_requests"] / n
    what = f"Wikipedia requests per company, a tick with nothing changed, {n:,} companies (local mode)"
    ratio, target = compare(same, theirs or 0.0, "fewer", "more"), f"<= {MAX_REQUESTS_PER_COMPANY:g}"
    rows = [Row(what, f"{same:.4f}", beside(theirs, EVERY_TICK), ratio, target, same <= MAX_REQUESTS_PER_COMPANY)]
    intros, scored = second["intro_requests"], second["documents_scored"]
    what, theirs_too = "· intro requests and Comprehend documents, that tick", f"{n:,} and {n:,} (every tick)"
    rows.append(Row(what, f"{intros:,} and {scored:,}", theirs_too, "—", "0 and 0", intros == scored == 0))
    what = f"· the first tick, every page new ({first['intro_requests']:,} of its requests for intros)"
    passed = None if theirs is None else new < theirs
    rows.append(Row(what, f"{new:.4f}", beside(theirs), compare(new, theirs or 0.0, "fewer", "more"), FEWER, passed))
    walls = f"{first['seconds']:,.1f} s every page new ({n / first['seconds']:,.0f}/s), "
    walls += f"{second['seconds']:,.1f} s nothing changed ({n / second['seconds']:,.0f}/s)"
    rows.append(Row(f"Wall time of a tick, {n:,} companies, budget raised (local mode)", walls, *NONE))
    peak = max(first["peak_in_flight"], second["peak_in_flight"], small["peak_in_flight"])
    what, target = "Most Wikipedia requests in flight at once, every phase", f"<= {MAX_IN_FLIGHT}"
    rows.append(Row(what, str(peak), "—", "—", target, peak <= MAX_IN_FLIGHT))
    rss, what = scale["peak_rss_bytes"], f"Peak memory of local mode, {n:,} companies in one tick (RSS)"
    rows.append(Row(what, mib(rss), "—", "—", f"<= {mib(POLITE_RSS)}", rss <= POLITE_RSS))
    most, allowed = plan["revision_requests_per_tick_max"], plan["revision_requests_per_tick_allowed"]
    what = (
        f"Default budget ({plan['budget']} a minute, {plan['period_seconds']} s ticks), {plan['companies']:,} companies"
    )
    ours = f"{ticks(plan['windows'])}: each company every {plan['interval_seconds']:,} s, <= {most} revision requests"
    target = f"each company once a round, <= {allowed} revision requests a tick (of 50 titles; the tick's budget)"
    passed = plan["every_company_once"] and all(t["as_planned"] for t in plan["ticks"]) and most <= allowed
    rows.append(Row(what, ours, "—", "—", target, passed))
    slowest, busiest, budget = max(t["seconds"] for t in small["ticks"]), small["busiest_minute"], small["budget"]
    what = f"Small budget in real time ({budget} a minute, {small['schedule']}), {small['companies']:,} companies"
    ours = f"{ticks(small['windows'])} in {small['seconds']:,.0f} s, slowest {slowest:,.1f} s; busiest minute {busiest}"
    target = f"each company within {small['interval_seconds']:,} s, <= {budget} requests in any minute"
    passed = small["every_company_checked"] and small["each_tick_within_its_period"] and busiest <= budget
    rows.append(Row(what, ours, "—", "—", target, passed))
    return rows


def rows_import_time(imports: dict[str, Any]) -> list[Row]:
    boto3 = imports["cases"]["import boto3"]
    label, consumer = next((k, v) for k, v in imports["cases"].items() if k.startswith("ProducerAI"))
    what = f"Cold import of the consumer's handler, {label.split()[0]} "
    what += f"(median of {consumer['samples']} fresh interpreters)"
    ratio = f"{consumer['over_boto3_ms']:+.1f} ms ({consumer['ratio_to_boto3']:.2f}x)"
    target = f"<= +{imports['budget_ms']:g} ms over `import boto3`"
    theirs = f"{boto3['median_ms']:,.1f} ms (`import boto3`)"
    return [Row(what, f"{consumer['median_ms']:,.1f} ms", theirs, ratio, target, imports["within_budget"])]


def rows_build(build: dict[str, Any]) -> list[Row]:
    limit = build["limit_bytes"]
    name, largest = max(build["functions"].items(), key=lambda item: item[1]["unzipped_bytes"])
    size, code = largest["unzipped_bytes"], largest["code_bytes"]
    ours = f"{size:,} B (code {code:,} + layers {size - code:,}; {largest['zipped_bytes']:,} B zipped)"
    theirs = f"about {PROTOTYPE_LAYER_BYTES / 1e6:.0f} MB, its pandas/numpy layer alone (docs/design.md, not measured)"
    ratio, target = f"about {about(PROTOTYPE_LAYER_BYTES / size)}x smaller", f"<= {limit:,} B (Lambda's limit)"
    passed = all(fn["unzipped_bytes"] <= limit for fn in build["functions"].values())
    return [Row(f"Code + layers, unzipped, largest function ({name})", ours, theirs, ratio, target, passed)]


def rows_cost(cost: dict[str, Any]) -> list[Row]:
    ours, theirs, prices = cost["designs"]["pipeline"], cost["designs"]["prototype"], cost["prices"]
    what = (
        f"Monthly cost, {ours['companies']:,} companies, {ours['schedule']} (estimate by `./cfcli.py cost`: "
        f"{prices['region']} prices of {prices['confirmed']}, change rate {ours['change_rate']:g} a tick)"
    )
    mine = f"{money(ours['totals']['list'])} ({money(ours['totals']['after_free_tier'])} after the free tier)"
    other = f"{money(theirs['totals']['list'])} ({money(theirs['totals']['after_free_tier'])})"
    ratio = f"{cost['ratio']['list']:,.1f}x cheaper ({cost['ratio']['after_free_tier']:,.1f}x)"
    passed = ours["totals"]["list"] < theirs["totals"]["list"]
    return [Row(what, mine, other, ratio, "cheaper than the prototype's", passed)]


def rows_sqs_depth(sqs: dict[str, Any]) -> list[Row]:
    # Where the slowest patched call happened, and what moto as shipped took for the same call there.
    depth, call, ms = max(
        ((depth, call, value) for depth, run in sqs["depths"].items() for call, value in run["patched"].items()),
        key=lambda found: found[2],
    )
    shipped = sqs["depths"][depth]["shipped"][call]
    what = (
        f"Slowest SQS call through local mode's moto, queues up to {max(int(d) for d in sqs['depths']):,} deep (median)"
    )
    ours, theirs = f"{ms:,.1f} ms ({call} at {int(depth):,})", f"{shipped:,.1f} ms (moto as shipped)"
    return [
        Row(what, ours, theirs, compare(ms, shipped, "faster", "slower"), f"<= {sqs['target_ms']:g} ms", sqs["passed"])
    ]


def rows_ddb_update(ddb: dict[str, Any]) -> list[Row]:
    local, shipped = ddb["figures"]["local mode"], ddb["figures"]["shipped"]
    what = f"Server CPU per consumer UpdateItem in local mode's moto ({ddb['threads']} client threads)"
    ours, theirs = f"{local['server_cpu_ms']:.2f} ms", f"{shipped['server_cpu_ms']:.2f} ms (moto as shipped)"
    target = f"at most 1/{ddb['target_cpu_ratio']:g} of shipped"
    return [Row(what, ours, theirs, f"{ddb['cpu_ratio']:.1f}x less", target, ddb["passed"])]


def rows_producer_scale(producer: dict[str, Any]) -> list[Row]:
    default, raised = producer["runs"]
    what = f"The producer, one invocation, {producer['companies']:,} companies (local mode)"
    ours = (
        f"{raised['seconds']:.1f} s to scan and queue all (budget raised); {default['seconds']:.1f} s to scan all "
        f"and queue {default['queued']:,} (default budget)"
    )
    target = (
        f"every scan complete, all queued when the budget allows, within the Timeout ({producer['timeout_seconds']} s)"
    )
    return [Row(what, ours, "—", "—", target, producer["passed"])]


# ---------------------------------------------------------------------------------------------- the report


def input_paths(folder: Path) -> dict[str, Path]:
    return {name: folder / f"{name}.json" for name in (*BENCHES, "build", "cost")}


def load(folder: Path) -> dict[str, Any]:
    """Every input by name: its parsed JSON, or the reason it cannot be read (a str)."""
    found: dict[str, Any] = {}
    for name, path in input_paths(folder).items():
        try:
            found[name] = json.loads(path.read_text())
        except FileNotFoundError:
            found[name] = f"no {path.name}"
        except (OSError, ValueError) as exc:
            found[name] = f"{path.name} unreadable: {exc}"
    return found


def table_rows(inputs: dict[str, Any]) -> list[Row]:
    def data(name: str) -> dict[str, Any] | None:
        value = inputs.get(name)
        return value if isinstance(value, dict) else None

    e2e = data("local_e2e")
    builders: list[tuple[str, str, Callable[[], list[Row]]]] = [
        ("local_e2e", "Local mode end to end and API calls (bench/local_e2e.py)", lambda: rows_local_e2e(e2e)),
        (
            "api_calls",
            "Requests per company with nothing changed (bench/api_calls.py)",
            lambda: rows_api_calls(data("api_calls"), e2e),
        ),
        (
            "polite_scale",
            "Polite at scale (bench/polite_scale.py)",
            lambda: rows_polite_scale(data("polite_scale"), e2e),
        ),
        (
            "producer_scale",
            "The producer at scale (bench/producer_scale.py)",
            lambda: rows_producer_scale(data("producer_scale")),
        ),
        ("import_time", "Consumer cold import (bench/import_time.py)", lambda: rows_import_time(data("import_time"))),
        ("build", "Code + layer sizes (watchlist_workstation/deploy/build.py)", lambda: rows_build(data("build"))),
        ("cost", "Monthly cost (./cfcli.py cost)", lambda: rows_cost(data("cost"))),
        ("sqs_depth", "SQS calls on a deep queue (bench/sqs_depth.py)", lambda: rows_sqs_depth(data("sqs_depth"))),
        ("ddb_update", "UpdateItem server CPU (bench/ddb_update.py)", lambda: rows_ddb_update(data("ddb_update"))),
        (
            "dataset",
            "The dataset at 90 days (bench/dataset.py)",
            lambda: [Row(*cells) for cells in dataset_rows(data("dataset"))],
        ),
    ]
    rows: list[Row] = []
    for name, what, build_rows in builders:
        if data(name) is None:
            rows.append(Row(what, f"not measured ({inputs.get(name)})", "—", "—", "measured", False))
            continue
        try:
            rows.extend(build_rows())
        except (KeyError, TypeError, ValueError, StopIteration) as exc:
            # A bench whose output changed shape: say which file, rather than a traceback or a gap.
            rows.append(Row(what, f"unreadable {name}.json ({type(exc).__name__}: {exc})", "—", "—", "measured", False))
    return rows


def verdicts(inputs: dict[str, Any]) -> dict[str, bool]:
    """Each bench's own verdict over all of its checks, the ones no row shows included."""
    found = {}
    for name in BENCHES:
        value = inputs.get(name)
        # import_time's summary calls its verdict within_budget; the others say passed.
        found[name] = isinstance(value, dict) and bool(value.get("passed", value.get("within_budget", False)))
    return found


def measured_when(folder: Path) -> str:
    """When the inputs were written (UTC), so a report made again later still dates the measurement."""
    stamps = []
    for path in input_paths(folder).values():
        with contextlib.suppress(OSError):
            stamps.append(datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC))
    if not stamps:
        return f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC (no input written)"
    first, last = min(stamps), max(stamps)
    return (
        f"{first:%Y-%m-%d %H:%M}"
        + (f" to {last:%H:%M}" if last - first >= datetime.timedelta(minutes=1) else "")
        + " UTC"
    )


def machine() -> str:
    """CPU model and count, memory, OS, kernel, architecture and Python, from this machine."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024**2:.1f} GiB RAM"
                break
    except (OSError, ValueError, IndexError):
        pass
    system = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = line.split("=", 1)[1].strip().strip('"')
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} logical CPUs{memory}; {system}, kernel {platform.release()}, "
        f"{platform.machine()}; {platform.python_implementation()} {platform.python_version()}"
    )


def commit() -> str:
    """The commit measured, and whether the working tree differed from it."""
    git = shutil.which("git")
    if git is None:
        return "git not installed: commit unknown"
    try:
        head = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout: commit unknown"
    return f"commit {head}" + (" with uncommitted changes" if dirty else "")


def render(rows: list[Row], bench_verdicts: dict[str, bool], when: str, where: str, what: str) -> str:
    lines = [
        f"`make bench`, measured {when} on {where} ({what}).",
        "",
        "| what | this pipeline | the prototype's pattern / baseline | ratio | target | result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        cells = (row.what, row.ours, row.theirs, row.ratio, row.target, row.result)
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    lines += [
        "",
        "Each bench's own verdict, all of its checks: "
        + ", ".join(f"bench/{name}.py {'PASS' if ok else 'FAIL'}" for name, ok in bench_verdicts.items())
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ROOT / "build" / "bench", help="where make bench wrote the JSON")
    parser.add_argument("--markdown-out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)

    inputs = load(args.dir)
    rows, bench_verdicts = table_rows(inputs), verdicts(inputs)
    text = render(rows, bench_verdicts, measured_when(args.dir), machine(), commit())
    print(text, end="")
    if args.markdown_out:
        args.markdown_out.parent.mkdir(parents=True, exist_ok=True)
        args.markdown_out.write_text(text)
    failed = [row.what for row in rows if row.passed is False] + [
        f"bench/{name}.py" for name, ok in bench_verdicts.items() if not ok
    ]
    if failed:
        print(f"report: {len(failed)} failed: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
