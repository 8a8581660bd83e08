"""Every error the looper raises on purpose is a `LooperError` and a builtin of its kind."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import looper
from looper.errors import LooperError

BUILTIN_KINDS = (ValueError, RuntimeError, MemoryError, OSError)


def _error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(looper.__path__, "looper."):
        if info.name == "looper.__main__":  # importing it runs the CLI
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and obj is not LooperError
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[name] for name in sorted(found)]


ERRORS = _error_classes()


def test_the_looper_defines_errors_at_all() -> None:
    assert len(ERRORS) >= 10  # config, session, render, device, calibrate, learn, rig...


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: f"{e.__module__}.{e.__qualname__}")
def test_each_error_subclasses_looper_error_and_a_builtin(error: type[BaseException]) -> None:
    assert issubclass(error, LooperError)
    assert issubclass(error, BUILTIN_KINDS), f"{error} names no builtin kind"
