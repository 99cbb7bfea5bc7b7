"""The ``threadkeep`` command line (Typer + Rich): one file per command group."""
