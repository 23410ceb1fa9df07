"""`diagram`: the architecture drawn from template.yml (Graphviz SVG/PNG, Mermaid, DOT)."""

from __future__ import annotations

from pathlib import Path

import click

from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import CliError, note
from watchlist_workstation.project import ROOT, TEMPLATE


@cli.command()
@click.option(
    "--template",
    "template_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=TEMPLATE,
    show_default="template.yml",
    help="The template to draw.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=ROOT / "docs",
    show_default="docs/",
    help="Folder for architecture.<format>.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["svg", "png", "mermaid", "dot"]),
    multiple=True,
    help="What to write (repeatable); default: svg, png and mermaid.",
)
def diagram(template_path: Path, out_dir: Path, formats: tuple[str, ...]) -> None:
    """Draw the architecture from the template: every resource, event sources, Ref/GetAtt/Sub edges."""
    from watchlist_workstation.diagram import DiagramError, draw

    try:
        written = draw(template_path, out_dir, formats or ("svg", "png", "mermaid"))
    except DiagramError as exc:
        raise CliError(str(exc)) from exc
    for path in written:
        note(f"wrote {path}")
