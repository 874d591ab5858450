"""``python -m certwarden``: the CLI."""

from certwarden.interfaces.cli import main

main()
