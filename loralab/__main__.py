"""`python -m loralab` is the `loralab` command."""

from loralab.cli import main

main()
