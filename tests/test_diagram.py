"""`./cfcli.py diagram`: the architecture drawn from template.yml itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import watchlist_workstation.cli.diagram  # noqa: F401 - registers the command
from watchlist_workstation.cli.app import cli
from watchlist_workstation.deploy.template import load_template
from watchlist_workstation.diagram import Edge, _references, build, draw, to_dot, to_mermaid

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yml"


@pytest.mark.servers  # the SVG and PNG come from Graphviz's dot, run as a process
def test_every_resource_appears_in_every_output(tmp_path):
    # GIVEN the shipped template
    resources = set(load_template(TEMPLATE)["Resources"])
    assert len(resources) > 15
    # WHEN it is drawn in every format (the SVG by Graphviz's dot, which .ci/run installs)
    written = draw(TEMPLATE, tmp_path, ("svg", "png", "mermaid", "dot"))
    # THEN each output names every resource, and the PNG is a PNG
    assert {p.name for p in written} == {"architecture.svg", "architecture.png", "architecture.mmd", "architecture.dot"}
    svg = (tmp_path / "architecture.svg").read_text()
    svg_titles = set(re.findall(r"<title>([A-Za-z0-9]+)</title>", svg))
    mermaid_nodes = set(re.findall(r"^  ([A-Za-z0-9]+)\[", (tmp_path / "architecture.mmd").read_text(), re.M))
    dot_nodes = set(re.findall(r'^  "([A-Za-z0-9]+)" \[', (tmp_path / "architecture.dot").read_text(), re.M))
    for found in (svg_titles, mermaid_nodes, dot_nodes):
        assert resources <= found
    assert (tmp_path / "architecture.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_event_sources_and_references_become_edges():
    diagram = build(load_template(TEMPLATE))
    edges = {(e.source, e.target): e for e in diagram.edges}
    # event sources point at the function they invoke
    assert edges[("WorkQueue", "ProducerAI")] == Edge("WorkQueue", "ProducerAI", "SQS event", event=True)
    assert edges[("ServerlessProducerSchedule", "ServerlessProducer")].event
    # references point from the resource that refers to the one referred to
    assert edges[("WorkQueue", "DeadLetterQueue")].label == "Arn"  # the redrive policy
    assert edges[("ProducerAI", "WatchlistTable")].label == "Ref"  # TABLE_NAME
    # Globals count: both functions use both layers
    for function in ("ServerlessProducer", "ProducerAI"):
        assert ("Ref" in edges[(function, "SharedLayer")].label) and (function, "DepsLayer") in edges
    # parameters are not resources
    assert "ScheduleExpression" not in {n.id for n in diagram.nodes}


def test_references_are_read_from_ref_getatt_and_sub():
    value = {
        "A": {"Ref": "Queue"},
        "B": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "C": {"Fn::GetAtt": "Bucket.Arn"},
        "D": {"Fn::Sub": "arn:${AWS::Partition}:logs:${Group}:*"},  # pseudo parameters are not names
        "E": {"Fn::Sub": ["${Local}/${Topic.TopicName}", {"Local": {"Ref": "Other"}}]},
    }
    assert sorted(_references(value)) == sorted(
        [
            ("Queue", "Ref"),
            ("Table", "StreamArn"),
            ("Bucket", "Arn"),
            ("Group", "Ref"),
            ("Topic", "TopicName"),
            ("Other", "Ref"),
        ]
    )


def test_the_docs_show_the_diagram_of_the_current_template():
    # GIVEN the architecture page and the README
    page = (ROOT / "docs" / "architecture.md").read_text()
    readme = (ROOT / "README.md").read_text()
    # WHEN the page's Mermaid block is read
    block = re.search(r"```mermaid\n(.*?)```", page, re.S)
    # THEN it is the current template's diagram, and the README embeds the picture
    assert block is not None, "docs/architecture.md has no mermaid block"
    assert block.group(1) == to_mermaid(build(load_template(TEMPLATE))), (
        "run ./cfcli.py diagram and paste docs/architecture.mmd into docs/architecture.md"
    )
    assert "(docs/architecture.svg)" in readme
    assert to_dot(build(load_template(TEMPLATE))).startswith("digraph architecture {")


def test_cli_writes_the_files_and_reports_a_missing_template(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["diagram", "--out", str(tmp_path), "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "architecture.mmd").read_text().startswith("flowchart LR")
    result = runner.invoke(cli, ["diagram", "--template", str(tmp_path / "nope.yml"), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: no template at {tmp_path / 'nope.yml'}"]
