"""One base for every error the looper raises on purpose: `LooperError`.

Each error class subclasses `LooperError` and the builtin that says what kind of
mistake it is (`ValueError` for bad input: a config, a session, a file to render;
`RuntimeError` for a device, a server or a measurement that failed; `MemoryError`
for loop memory that ran out), so a caller can catch the looper's errors as one,
or by kind, and the CLI can tell a message meant for the performer (a
`LooperError`, shown as text) from a bug (anything else). Every message names the
problem and the fix. The pure core may import this module: it holds no I/O.
"""

from __future__ import annotations


class LooperError(Exception):
    """An error meant for the performer: its text names the problem and the fix."""
