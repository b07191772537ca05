from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import bridges

MODULES = [m.name for m in pkgutil.iter_modules(bridges.__path__) if m.name != "__init__"]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_definition(name: str) -> None:
    module = importlib.import_module(f"bridges.{name}")
    exported = set(module.__all__)
    defined = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == module.__name__
    }
    assert defined <= exported
    assert all(hasattr(module, n) for n in exported)
