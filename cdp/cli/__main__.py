"""``python -m cdp.cli``: the ``cdp`` command."""

import sys

from cdp.cli.commands import main

if __name__ == "__main__":  # importing the module (a test walking every module) runs nothing
    sys.exit(main())
