"""``python -m persist``: the persist command."""

from persist.cli import main

main()
