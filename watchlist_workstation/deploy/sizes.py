"""The build's sizes against Lambda's limit: each layer and function folder measured unzipped and zipped, a
function's code plus its layers checked against the unzipped limit, and the table `make build` prints."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Any

from watchlist_workstation.deploy.build_errors import BundleTooLargeError
from watchlist_workstation.deploy.build_template import TEMPLATE
from watchlist_workstation.limits import LAMBDA_UNZIPPED_LIMIT_BYTES


def size_report(
    out: Path,
    function_dirs: dict[str, Path],
    layer_dirs: dict[str, Path],
    layer_refs: dict[str, list[str]],
    limit_bytes: int,
) -> dict[str, Any]:
    layers = {
        logical_id: {"folder": folder.relative_to(out).as_posix(), **measure(folder)}
        for logical_id, folder in layer_dirs.items()
    }
    functions = {}
    for logical_id, folder in function_dirs.items():
        code = measure(folder)
        refs = layer_refs[logical_id]
        unzipped = code["unzipped_bytes"] + sum(layers[ref]["unzipped_bytes"] for ref in refs)
        functions[logical_id] = {
            "folder": folder.relative_to(out).as_posix(),
            "code_bytes": code["unzipped_bytes"],
            "code_zipped_bytes": code["zipped_bytes"],
            "layers": refs,
            "unzipped_bytes": unzipped,
            "zipped_bytes": code["zipped_bytes"] + sum(layers[ref]["zipped_bytes"] for ref in refs),
            "limit_fraction": round(unzipped / limit_bytes, 6),
        }
    return {
        "out": str(out),
        "template": (out / TEMPLATE).relative_to(out).as_posix(),
        "limit_bytes": limit_bytes,
        "layers": layers,
        "functions": functions,
    }


def measure(folder: Path) -> dict[str, int]:
    """Files, bytes on disk (what Lambda's unzipped limit counts) and the size of a deflated zip of them."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with tempfile.TemporaryFile() as archive:
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in files:
                zf.write(path, path.relative_to(folder).as_posix())
        zipped = archive.tell()
    return {"files": len(files), "unzipped_bytes": sum(p.stat().st_size for p in files), "zipped_bytes": zipped}


def check_sizes(report: dict[str, Any], limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES) -> None:
    """Raise BundleTooLargeError naming every function whose code plus layers exceeds `limit_bytes`."""
    over = [
        f"{name} {entry['unzipped_bytes']:,} B"
        for name, entry in report["functions"].items()
        if entry["unzipped_bytes"] > limit_bytes
    ]
    if over:
        raise BundleTooLargeError(
            f"over Lambda's unzipped limit of {limit_bytes:,} bytes (code + layers): {', '.join(over)}", report
        )


def format_table(report: dict[str, Any]) -> str:
    limit = report["limit_bytes"]
    rows = [f"Lambda bundles in {report['out']} (limit: {limit:,} bytes unzipped per function, code + layers)", ""]
    rows.append(f"{'layer':<22} {'folder':<32} {'files':>6} {'unzipped B':>14} {'zipped B':>12}")
    for name, layer in report["layers"].items():
        rows.append(
            f"{name:<22} {layer['folder']:<32} {layer['files']:>6} "
            f"{layer['unzipped_bytes']:>14,} {layer['zipped_bytes']:>12,}"
        )
    rows.append("")
    rows.append(
        f"{'function':<22} {'folder':<32} {'code B':>10} {'+ layers B':>12} "
        f"{'= unzipped B':>14} {'zipped B':>12} {'of limit':>9}"
    )
    for name, fn in report["functions"].items():
        layer_bytes = fn["unzipped_bytes"] - fn["code_bytes"]
        rows.append(
            f"{name:<22} {fn['folder']:<32} {fn['code_bytes']:>10,} {layer_bytes:>12,} "
            f"{fn['unzipped_bytes']:>14,} {fn['zipped_bytes']:>12,} {fn['unzipped_bytes'] / limit:>9.3%}"
        )
    rows.append("")
    rows.append(f"deploy with: sam deploy --template-file {Path(report['out']) / report['template']}")
    return "\n".join(rows)
