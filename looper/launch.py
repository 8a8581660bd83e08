"""The `looper` command's first lines, before anything heavy is imported.

Why: loading the CLI (pydantic, rich, numpy) takes a few tenths of a second,
and a Ctrl-C or a closed terminal in that window would raise in the middle of
an import: a traceback on the performer's screen. Until the CLI sets its own
handlers (`looper.cli.main`, and `looper run`'s), these end the program at once
and quietly: 130 for Ctrl-C, 0 for SIGTERM and SIGHUP. Nothing has started yet
that could be lost.
"""

from __future__ import annotations

import os
import signal
from types import FrameType


def _early(signum: int, frame: FrameType | None) -> None:
    os._exit(130 if signum == signal.SIGINT else 0)


def main() -> int:
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(s) is not signal.SIG_IGN:  # `nohup looper ...` keeps SIGHUP out
            signal.signal(s, _early)
    from looper.cli import main as cli_main

    return cli_main()
