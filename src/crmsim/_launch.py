"""The ``crmsim`` console script's first module: Ctrl-C is handled before anything loads.

Importing the command line takes a moment (pandas, scipy, pydantic, matplotlib). A Ctrl-C
in that moment would otherwise end in a Python traceback; here it ends, like a Ctrl-C at
any later moment, with one line on stderr and exit status 130. Once the command line is
loaded, :func:`crmsim.cli.main` installs its own handler.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

EXIT_INTERRUPTED = 130


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write("crmsim: interrupted\n")
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def main() -> None:
    """Run the ``crmsim`` command line (see :func:`crmsim.cli.main`)."""
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    from crmsim.cli import main as cli_main

    cli_main()
