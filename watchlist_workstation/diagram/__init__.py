"""The architecture, drawn from the template itself: `./cfcli.py diagram`.

Every resource of template.yml is a node. Edges come from the template, never from a list kept
here:
- each SAM function's `Events`: the event source points at the function (an SQS queue, or an
  EventBridge schedule, drawn as a node of its own since SAM creates the rule);
- every `Ref`, `Fn::GetAtt` and `${Name}` / `${Name.Attribute}` of `Fn::Sub` from a resource's
  properties to another resource points from the one that refers to the one referred to, labelled
  with the attribute (or `Ref`). Parameters and pseudo parameters are not resources, so not drawn.

Output: Graphviz DOT (rendered to SVG and PNG by Graphviz's `dot`, which is a system package) and
Mermaid text (what GitHub renders inside docs/architecture.md).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchlist_workstation.deploy.template import load_template

SUFFIXES = {"svg": "svg", "png": "png", "mermaid": "mmd", "dot": "dot"}
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?\}")
# How a resource type is shown: the service and the kind, without the AWS:: prefix.
_SHORT_TYPES = {
    "AWS::Serverless::Function": "Lambda function",
    "AWS::Serverless::LayerVersion": "Lambda layer",
    "AWS::Lambda::LayerVersion": "Lambda layer",
}
# Graphviz fill colours by service (the second part of the type), so services read apart.
_COLOURS = {
    "Serverless": "#fde8c8",
    "Lambda": "#fde8c8",
    "DynamoDB": "#d6e4f5",
    "SQS": "#f6d6e8",
    "S3": "#dcefd6",
    "SNS": "#f6d6e8",
    "CloudWatch": "#e8e0f5",
    "Logs": "#e8e0f5",
    "IAM": "#eeeeee",
    "Events": "#f5f0c8",
}


class DiagramError(RuntimeError):
    """The diagram cannot be drawn (no template, no Graphviz); the message says what to do."""


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    label: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    event: bool = False  # an event source (drawn bold), not a reference


@dataclass
class Diagram:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def short_type(resource_type: str) -> str:
    if resource_type in _SHORT_TYPES:
        return _SHORT_TYPES[resource_type]
    parts = resource_type.split("::")
    return " ".join(parts[1:]) if len(parts) == 3 else resource_type


def _references(value: Any) -> Iterator[tuple[str, str]]:
    """(logical id, label) for every Ref, GetAtt and Sub name inside a property value."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "Ref" and isinstance(inner, str):
                yield inner, "Ref"
                return
            if key == "Fn::GetAtt":
                parts = inner.split(".", 1) if isinstance(inner, str) else list(inner)
                if parts and isinstance(parts[0], str):
                    yield parts[0], ".".join(str(p) for p in parts[1:]) or "GetAtt"
                return
            if key == "Fn::Sub":
                text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
                for name, attribute in _SUB_NAME.findall(text):
                    if name not in variables:
                        yield name, attribute or "Ref"
                yield from _references(variables)
                return
        for inner in value.values():
            yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def build(template: Mapping[str, Any]) -> Diagram:
    resources: Mapping[str, Any] = template.get("Resources") or {}
    # SAM's Globals apply to every function (the layers are given there); a function's own
    # properties win, as in SAM (list-valued ones are joined there; for edges a union is enough).
    function_globals = dict((template.get("Globals") or {}).get("Function") or {})
    diagram = Diagram()
    labels: dict[tuple[str, str, bool], list[str]] = {}

    def connect(source: str, target: str, label: str, event: bool = False) -> None:
        if source != target and label not in labels.setdefault((source, target, event), []):
            labels[(source, target, event)].append(label)

    for logical_id, resource in resources.items():
        resource_type = str(resource.get("Type", "?"))
        diagram.nodes.append(Node(logical_id, resource_type, f"{logical_id}\n{short_type(resource_type)}"))
    for logical_id, resource in resources.items():
        properties = dict(resource.get("Properties") or {})
        events = None
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = {**function_globals, **properties}
            events = properties.pop("Events", None)
        for event_name, event in (events or {}).items():
            event_type = event.get("Type")
            event_properties = event.get("Properties") or {}
            if event_type == "Schedule":
                rule = f"{logical_id}{event_name}"
                diagram.nodes.append(Node(rule, "AWS::Events::Rule", f"{rule}\nEventBridge schedule (SAM)"))
                connect(rule, logical_id, "invokes", event=True)
            else:
                for source, _ in _references(event_properties):
                    if source in resources:
                        connect(source, logical_id, f"{event_type} event", event=True)
        for target, label in _references(properties):
            if target in resources:
                connect(logical_id, target, label)
    diagram.edges = [Edge(s, t, ", ".join(names), event) for (s, t, event), names in labels.items()]
    return diagram


def to_dot(diagram: Diagram, title: str = "") -> str:
    lines = [
        "digraph architecture {",
        '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.3, ranksep=0.9'
        + (f', label="{_escape(title)}", labelloc=t' if title else "")
        + "];",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
    ]
    for node in diagram.nodes:
        service = node.type.split("::")[1] if node.type.count("::") == 2 else ""
        colour = _COLOURS.get(service, "#ffffff")
        lines.append(f'  "{node.id}" [label="{_escape(node.label)}", fillcolor="{colour}"];')
    for edge in diagram.edges:
        style = ', style=bold, color="#c0392b"' if edge.event else ""
        lines.append(f'  "{edge.source}" -> "{edge.target}" [label="{_escape(edge.label)}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_mermaid(diagram: Diagram) -> str:
    lines = ["flowchart LR"]
    for node in diagram.nodes:
        label = node.label.replace('"', "'").replace("\n", "<br/>")
        lines.append(f'  {node.id}["{label}"]')
    for edge in diagram.edges:
        arrow = "==>" if edge.event else "-->"
        lines.append(f"  {edge.source} {arrow}|{edge.label}| {edge.target}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, output: Path, fmt: str) -> Path:
    """Run Graphviz's dot to write `output` in `fmt` (svg, png)."""
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError("Graphviz's dot is not installed (Debian/Ubuntu: apt-get install graphviz)")
    completed = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(output)], input=dot_text.encode(), capture_output=True, check=False
    )
    if completed.returncode != 0:
        raise DiagramError(f"dot failed: {completed.stderr.decode(errors='replace').strip()}")
    return output


def draw(template_path: Path, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """Write the diagram of `template_path` into `out_dir` as architecture.<format> for each format."""
    if not template_path.is_file():
        raise DiagramError(f"no template at {template_path}")
    diagram = build(load_template(template_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    dot_text = to_dot(diagram, title=f"{template_path.name}: resources, event sources, Ref / GetAtt / Sub")
    written = []
    for fmt in formats:
        path = out_dir / f"architecture.{SUFFIXES[fmt]}"
        if fmt == "dot":
            path.write_text(dot_text)
        elif fmt == "mermaid":
            path.write_text(to_mermaid(diagram))
        else:
            render(dot_text, path, fmt)
        written.append(path)
    return written
