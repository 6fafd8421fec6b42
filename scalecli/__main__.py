"""`python -m scalecli`: the same CLI as the `scalecli` command."""

from scalecli.cli import main

if __name__ == "__main__":  # not on import (the layout test imports every module)
    main()
