"""``python -m voipwatch.cli``: the same command line as the ``voipwatch`` script."""

from voipwatch.cli import main

main()
