"""`python -m scalecli`: the same CLI as the `scalecli` command."""

from scalecli.cli import main

main()
