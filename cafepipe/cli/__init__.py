"""The `cafepipe` command line: thin click commands over the core, one error boundary."""

from cafepipe.cli.app import cli, main

__all__ = ["cli", "main"]
