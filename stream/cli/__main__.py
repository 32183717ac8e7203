"""``python -m stream.cli``: the same as the ``vigil`` command."""

from stream.cli.main import main

main()
