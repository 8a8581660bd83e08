"""The `jack` marker guards (tests/conftest.py), run on a tiny suite of their own.

Neither inner test starts a server: the guards fail them first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def test_a_server_without_the_marker_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    jack: starts a JACK server\n")
    pytester.makepyfile(
        test_unmarked="""
        from looper.rig.jackserver import JackServer

        def test_asks_for_the_fixture(jack_server):
            pass

        def test_starts_one_itself():
            JackServer().start()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_asks_for_the_fixture uses jack_server without the jack marker*",
            "*test_starts_one_itself starts a JACK server without the jack marker*",
        ]
    )
