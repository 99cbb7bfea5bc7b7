"""``python -m threadkeep``: the same command line as the ``threadkeep`` script."""

from threadkeep.cli.main import main

main()
