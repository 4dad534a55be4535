"""``python -m cdp.cli``: the ``cdp`` command."""

import sys

from cdp.cli.commands import main

sys.exit(main())
