"""One table of what `make bench` measured, beside the prototype's pattern, with the date and the machine.

    .venv/bin/python -m bench.report [--dir build/bench] [--markdown-out PATH]

Measures nothing itself: it reads what `make bench` writes into --dir,

    api_calls.json  import_time.json  local_e2e.json  sqs_depth.json  ddb_update.json
                    each bench's own figures, targets and verdict (its --json-out)
    build.json      the build's size report (scripts/2-build-layers.sh --json, watchlist_workstation/deploy/build.py)
    cost.json       ./cfcli.py cost --companies 1000 --compare-prototype --json

and prints one markdown table: what, this pipeline, the prototype's pattern (or the baseline the
bench measures against), the ratio, the target and PASS or FAIL. A row's target is its bench's
own; a comparison with the prototype that no bench holds to a number must at least beat the
prototype. The one figure not measured here, the prototype's layer size, comes from docs/design.md and
is labelled so. A missing or unreadable file is a FAIL row, never a figure left out quietly.

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

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ("api_calls", "import_time", "local_e2e", "sqs_depth", "ddb_update")

# docs/design.md, "The prototype this product replaces": its layer shipped pandas and numpy, "about 156 MB
# unzipped". The prototype is not in this repository, so this is the one figure in the table that
# is quoted, not measured.
PROTOTYPE_LAYER_BYTES = 156_000_000

# How moto's request counter names services (watchlist_workstation/local/moto_server/counting.py:
# operation_key): JSON-protocol services by their X-Amz-Target, everything else by HTTP method, which in
# the pipeline is S3 alone.
SERVICES = {"sqs": "SQS", "comprehend": "Comprehend", "dynamodb": "DynamoDB", "http": "S3"}
NOT_AWS = "text:"  # the text source's GETs: Wikipedia, not an AWS call


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


def about(value: float) -> str:
    """Two significant figures: for ratios against a figure that is itself approximate."""
    return f"{float(f'{value:.2g}'):,.0f}" if value >= 100 else f"{value:.2g}"


# ---------------------------------------------------------------------------------------------- rows by source


def rows_local_e2e(e2e: dict[str, Any], api: dict[str, Any] | None) -> list[Row]:
    small, large, proto = e2e["small"], e2e["large"], e2e["prototype"]
    n = small["companies"]
    ours_total, theirs_total = e2e["aws_calls_per_company"]["pipeline"], e2e["aws_calls_per_company"]["prototype"]
    rows = [
        Row(
            f"AWS API calls per company, {n:,} companies (local mode, counted where they arrive)",
            f"{ours_total:.3f}",
            f"{theirs_total:.3f}",
            compare(ours_total, theirs_total, "fewer", "more"),
            "fewer than the prototype's",
            ours_total < theirs_total,
        )
    ]
    by_service = {design: _by_service(e2e["per_company"][design]) for design in ("pipeline", "prototype")}
    comprehend_budget = (api or {}).get("targets_per_company", {}).get("comprehend:*")
    for key, name in SERVICES.items():
        ours, theirs = by_service["pipeline"].get(key, 0.0), by_service["prototype"].get(key, 0.0)
        if key == "dynamodb":
            # The table keeps each company's latest text hash and sentiment (docs/design.md rule 7): the
            # writes buy the skipped Comprehend calls; the prototype kept no state, so no target.
            target, passed = "none: the latest state per company (the prototype kept none)", None
        elif key == "comprehend" and comprehend_budget is not None:
            target, passed = f"<= {comprehend_budget} (bench/api_calls.py's budget)", ours <= comprehend_budget
        else:
            target, passed = "fewer than the prototype's", ours < theirs
        ratio = compare(ours, theirs, "fewer", "more")
        rows.append(Row(f"· {name} calls per company", f"{ours:.3f}", f"{theirs:.3f}", ratio, target, passed))
    rows.append(
        Row(
            f"Companies per second end to end, {n:,} companies (local mode)",
            f"{small['rate']:.1f}",
            f"{proto['rate']:.1f}",
            compare(small["rate"], proto["rate"], "faster", "slower", higher_is_better=True),
            "faster than the prototype's",
            small["rate"] > proto["rate"],
        )
    )
    target_rate = e2e["targets"]["rate_at_large"]
    rows.append(
        Row(
            f"Companies per second end to end, {large['companies']:,} companies (local mode)",
            f"{large['rate']:.1f}",
            "not run at this size",
            "—",
            f">= {target_rate:g}",
            large["rate"] >= target_rate,
        )
    )
    lost = small["unaccounted"] + large["unaccounted"]
    duplicated = small["duplicate_rows"] + large["duplicate_rows"]
    timed_out = small["timed_out"] or large["timed_out"]
    rows.append(
        Row(
            f"Companies lost or duplicated, of {n + large['companies']:,} (local mode)",
            f"{lost} lost, {duplicated} duplicated" + (", a drain timed out" if timed_out else ""),
            "—",
            "—",
            "0, drained in time",
            lost == 0 and duplicated == 0 and not timed_out,
        )
    )
    target_rss = e2e["targets"]["peak_rss_bytes"]
    rows.append(
        Row(
            "Peak memory of local mode (all its processes, RSS)",
            f"{e2e['peak_rss_bytes'] / 1024**2:,.0f} MiB",
            "—",
            "—",
            f"<= {target_rss / 1024**2:,.0f} MiB",
            e2e["peak_rss_bytes"] <= target_rss,
        )
    )
    return rows


def _by_service(per_company: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for key, value in per_company.items():
        if key.startswith(NOT_AWS):
            continue
        service = key.split(":", 1)[0]
        totals[service] = totals.get(service, 0.0) + value
    return totals


def rows_api_calls(api: dict[str, Any], e2e: dict[str, Any] | None) -> list[Row]:
    ours = api["per_company"]["comprehend:* (run 2)"]
    # The prototype analysed every company on every tick, changed or not (docs/design.md, "The prototype
    # this product replaces"): its figure for a run with unchanged texts is the one local_e2e measures for any run.
    theirs = None
    with contextlib.suppress(KeyError, TypeError, AttributeError):  # local_e2e's own row reports its file
        theirs = _by_service(e2e["per_company"]["prototype"]).get("comprehend")
    return [
        Row(
            f"Comprehend calls per company when no text changed (2nd run, {api['companies']:,} companies)",
            f"{ours:.3f}",
            f"{theirs:.3f} (it analyses every tick)" if theirs is not None else "see the local_e2e rows",
            "—",
            "0",
            api["checks"]["second run: 0 Comprehend calls"],
        )
    ]


def rows_import_time(imports: dict[str, Any]) -> list[Row]:
    boto3 = imports["cases"]["import boto3"]
    label, consumer = next((k, v) for k, v in imports["cases"].items() if k.startswith("ProducerAI"))
    return [
        Row(
            f"Cold import of the consumer's handler, {label.split()[0]} (median of {consumer['samples']} "
            "fresh interpreters)",
            f"{consumer['median_ms']:,.1f} ms",
            f"{boto3['median_ms']:,.1f} ms (`import boto3`)",
            f"{consumer['over_boto3_ms']:+.1f} ms ({consumer['ratio_to_boto3']:.2f}x)",
            f"<= +{imports['budget_ms']:g} ms over `import boto3`",
            imports["within_budget"],
        )
    ]


def rows_build(build: dict[str, Any]) -> list[Row]:
    limit = build["limit_bytes"]
    name, largest = max(build["functions"].items(), key=lambda item: item[1]["unzipped_bytes"])
    layer_bytes = largest["unzipped_bytes"] - largest["code_bytes"]
    return [
        Row(
            f"Code + layers, unzipped, largest function ({name})",
            f"{largest['unzipped_bytes']:,} B (code {largest['code_bytes']:,} + layers {layer_bytes:,}; "
            f"{largest['zipped_bytes']:,} B zipped)",
            f"about {PROTOTYPE_LAYER_BYTES / 1e6:.0f} MB, its pandas/numpy layer alone (docs/design.md, not measured)",
            f"about {about(PROTOTYPE_LAYER_BYTES / largest['unzipped_bytes'])}x smaller",
            f"<= {limit:,} B (Lambda's limit)",
            all(fn["unzipped_bytes"] <= limit for fn in build["functions"].values()),
        )
    ]


def rows_cost(cost: dict[str, Any]) -> list[Row]:
    ours, theirs = cost["designs"]["pipeline"], cost["designs"]["prototype"]
    prices = cost["prices"]
    what = (
        f"Monthly cost, {ours['companies']:,} companies, {ours['schedule']} (estimate by `./cfcli.py cost`: "
        f"{prices['region']} prices of {prices['confirmed']}, change rate {ours['change_rate']:g} a tick)"
    )
    return [
        Row(
            what,
            f"{money(ours['totals']['list'])} ({money(ours['totals']['after_free_tier'])} after the free tier)",
            f"{money(theirs['totals']['list'])} ({money(theirs['totals']['after_free_tier'])})",
            f"{cost['ratio']['list']:,.1f}x cheaper ({cost['ratio']['after_free_tier']:,.1f}x)",
            "cheaper than the prototype's",
            ours["totals"]["list"] < theirs["totals"]["list"],
        )
    ]


def rows_sqs_depth(sqs: dict[str, Any]) -> list[Row]:
    # Where the slowest patched call happened, and what moto as shipped took for the same call there.
    depth, call, ms = max(
        ((depth, call, value) for depth, run in sqs["depths"].items() for call, value in run["patched"].items()),
        key=lambda found: found[2],
    )
    shipped = sqs["depths"][depth]["shipped"][call]
    deepest = max(int(depth) for depth in sqs["depths"])
    return [
        Row(
            f"Slowest SQS call through local mode's moto, queues up to {deepest:,} deep (median)",
            f"{ms:,.1f} ms ({call} at {int(depth):,})",
            f"{shipped:,.1f} ms (moto as shipped)",
            compare(ms, shipped, "faster", "slower"),
            f"<= {sqs['target_ms']:g} ms",
            sqs["passed"],
        )
    ]


def rows_ddb_update(ddb: dict[str, Any]) -> list[Row]:
    local, shipped = ddb["figures"]["local mode"], ddb["figures"]["shipped"]
    return [
        Row(
            f"Server CPU per consumer UpdateItem in local mode's moto ({ddb['threads']} client threads)",
            f"{local['server_cpu_ms']:.2f} ms",
            f"{shipped['server_cpu_ms']:.2f} ms (moto as shipped)",
            f"{ddb['cpu_ratio']:.1f}x less",
            f"at most 1/{ddb['target_cpu_ratio']:g} of shipped",
            ddb["passed"],
        )
    ]


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

    e2e, api = data("local_e2e"), data("api_calls")
    builders: list[tuple[str, str, Callable[[], list[Row]]]] = [
        ("local_e2e", "Local mode end to end and API calls (bench/local_e2e.py)", lambda: rows_local_e2e(e2e, api)),
        ("api_calls", "Comprehend calls with unchanged texts (bench/api_calls.py)", lambda: rows_api_calls(api, e2e)),
        ("import_time", "Consumer cold import (bench/import_time.py)", lambda: rows_import_time(data("import_time"))),
        ("build", "Code + layer sizes (watchlist_workstation/deploy/build.py)", lambda: rows_build(data("build"))),
        ("cost", "Monthly cost (./cfcli.py cost)", lambda: rows_cost(data("cost"))),
        ("sqs_depth", "SQS calls on a deep queue (bench/sqs_depth.py)", lambda: rows_sqs_depth(data("sqs_depth"))),
        ("ddb_update", "UpdateItem server CPU (bench/ddb_update.py)", lambda: rows_ddb_update(data("ddb_update"))),
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
