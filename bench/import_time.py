"""Cold-start import cost of each handler module, against `import boto3`.

    .venv/bin/python -m bench.import_time [--build-dir build] [--repeat 7] [--budget-ms 100] [--json] [--json-out PATH]

Each sample is a fresh interpreter that imports one thing the way Lambda would: for a handler,
the working directory is the function's folder in build/functions/, and sys.path starts with that
folder and the two layers (build/layers/shared/python, build/layers/deps/python), so `lib` comes
from the layer copy, never from the source tree. The clock runs around the import only, so
interpreter start-up, equal for every case, is left out.

`import boto3` is the yardstick because every handler needs it anyway and the Lambda runtime
ships it. Target: importing the consumer (ProducerAI) costs at most --budget-ms more than
`import boto3`; the script exits 1 when it does not. Run `make build` first (`make bench` does).

Caveat: this runs on the workstation's interpreter (3.11, x86_64), not Lambda's 3.13 on arm64,
so absolute numbers differ from AWS; the difference to boto3 is what the target is about.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSUMER = "ProducerAI"
PRODUCER = "ServerlessProducer"

# Runs in the child. -I keeps the project root and PYTHONPATH off sys.path; -B writes no .pyc,
# as in Lambda, where the function folder is read-only and nothing is compiled ahead.
_CHILD = """
import importlib, sys, time
sys.path[:0] = {paths!r}
start = time.perf_counter()
importlib.import_module({module!r})
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class Case:
    label: str
    module: str
    cwd: Path
    paths: tuple[str, ...]


def cases(build_dir: Path) -> list[Case]:
    layers = (str(build_dir / "layers" / "shared" / "python"), str(build_dir / "layers" / "deps" / "python"))
    found = [Case("import boto3", "boto3", build_dir, ())]
    for name, role in ((CONSUMER, "consumer"), (PRODUCER, "producer")):
        folder = build_dir / "functions" / name
        if not (folder / "lambda_function.py").is_file():
            raise SystemExit(f"import_time: {folder}/lambda_function.py not found; run 'make build' first")
        found.append(Case(f"{name} ({role})", "lambda_function", folder, (str(folder), *layers)))
    return found


def sample(case: Case) -> float:
    """Seconds one fresh interpreter spends importing the case's module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "PYTHON"))}
    # Lambda always sets a region; a handler module must import without any other configuration.
    env.update(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", _CHILD.format(paths=list(case.paths), module=case.module)],
        cwd=case.cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"import_time: importing {case.label} failed: {last}")
    return float(result.stdout.strip().splitlines()[-1])


def measure(all_cases: list[Case], repeat: int) -> dict[str, list[float]]:
    for case in all_cases:
        sample(case)  # warm the page cache so the first case does not pay for the disk
    samples: dict[str, list[float]] = {case.label: [] for case in all_cases}
    # Round-robin, so a slow moment of the machine spreads over all cases instead of one.
    for _ in range(repeat):
        for case in all_cases:
            samples[case.label].append(sample(case))
    return samples


def summarise(samples: dict[str, list[float]], budget_ms: float) -> dict:
    baseline = statistics.median(samples["import boto3"]) * 1000
    rows = {}
    for label, values in samples.items():
        median_ms = statistics.median(values) * 1000
        rows[label] = {
            "median_ms": round(median_ms, 2),
            "min_ms": round(min(values) * 1000, 2),
            "samples": len(values),
            "over_boto3_ms": round(median_ms - baseline, 2),
            "ratio_to_boto3": round(median_ms / baseline, 3) if baseline else None,
        }
    consumer = next(row for label, row in rows.items() if label.startswith(CONSUMER))
    return {
        "python": sys.version.split()[0],
        "budget_ms": budget_ms,
        "cases": rows,
        "consumer_over_boto3_ms": consumer["over_boto3_ms"],
        "within_budget": consumer["over_boto3_ms"] <= budget_ms,
    }


def format_table(summary: dict) -> str:
    lines = [
        f"import time in a fresh interpreter (Python {summary['python']}, "
        f"{next(iter(summary['cases'].values()))['samples']} samples each)",
        "",
        f"{'case':<34} {'median ms':>10} {'min ms':>9} {'vs boto3 ms':>12} {'ratio':>7}",
    ]
    for label, row in summary["cases"].items():
        lines.append(
            f"{label:<34} {row['median_ms']:>10.1f} {row['min_ms']:>9.1f} "
            f"{row['over_boto3_ms']:>+12.1f} {row['ratio_to_boto3']:>6.2f}x"
        )
    verdict = "OK" if summary["within_budget"] else "OVER BUDGET"
    lines += [
        "",
        f"target: consumer at most +{summary['budget_ms']:.0f} ms over import boto3: "
        f"{summary['consumer_over_boto3_ms']:+.1f} ms, {verdict}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build", help="output of make build")
    parser.add_argument("--repeat", type=int, default=7, help="samples per case (default: %(default)s)")
    parser.add_argument("--budget-ms", type=float, default=100.0, help="consumer's allowance over boto3")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--json-out", type=Path, help="also write the summary as JSON to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    summary = summarise(measure(cases(args.build_dir.resolve()), args.repeat), args.budget_ms)
    print(json.dumps(summary, indent=2) if args.json else format_table(summary))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
    if not summary["within_budget"]:
        print(
            f"import_time: the consumer costs {summary['consumer_over_boto3_ms']:.1f} ms over import boto3; "
            f"the target is {args.budget_ms:.0f} ms",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
