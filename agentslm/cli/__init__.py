"""The ``agentslm`` command line (typer + rich): one module per command group."""

from agentslm.cli.main import app, main

__all__ = ["app", "main"]
