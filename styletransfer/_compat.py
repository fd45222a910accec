"""Deprecated module paths, kept importable for one release after a module moved.

An old module name becomes an alias of its new module (old attribute names mapped where
a class or function was renamed); the first use warns with a :class:`DeprecationWarning`
naming the new place, and ``python -m <old module>`` runs the new module's ``main()``.
:func:`register` adds a table of moves; :mod:`bot._compat` registers the bot's.
Nothing in the library or the bot uses the old names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings

__all__ = ["register", "moved_attribute"]

#: old module -> (new module, or several to search in order, {old attribute: new attribute
#: or "module:attribute"})
MOVED: dict[str, tuple[str | tuple[str, ...], dict[str, str]]] = {
    "styletransfer.ort": (("styletransfer.onnx.johnson", "styletransfer.onnx.runtime", "styletransfer.onnx.export"),
                          {"_standard_layers": "styletransfer.onnx.export:standard_layers",
                           "_cores": "styletransfer.onnx.runtime:cores"}),
    "styletransfer.ort_adain": ("styletransfer.onnx.adain", {}),
}
#: names that moved out of a module that still exists: (module, name) -> "new.module:name"
MOVED_NAMES: dict[tuple[str, str], str] = {}


def register(moved: dict, moved_names: dict | None = None) -> None:
    """Add moves (the shapes of :data:`MOVED` and :data:`MOVED_NAMES`) and install the finder."""
    MOVED.update(moved)
    MOVED_NAMES.update(moved_names or {})
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())


def _targets(new: str | tuple[str, ...]) -> tuple[str, ...]:
    return (new,) if isinstance(new, str) else tuple(new)


def _resolve(target: str, modules: tuple[str, ...]) -> object:
    if ":" in target:
        module, _, name = target.rpartition(":")
        return getattr(importlib.import_module(module), name)
    for module in modules:
        mod = importlib.import_module(module)
        if hasattr(mod, target):
            return getattr(mod, target)
    raise AttributeError(f"{target!r} is in none of {', '.join(modules)}")


def moved_attribute(module: str, name: str) -> object:
    """The new home of ``module.name`` (a module ``__getattr__`` calls this), with a warning.

    Raises:
        AttributeError: ``name`` did not move from ``module``.
    """
    target = MOVED_NAMES.get((module, name))
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(f"{module}.{name} moved to {target.replace(':', '.')}", DeprecationWarning, stacklevel=3)
    return _resolve(target, ())


class _Alias(types.ModuleType):
    """The old module: every attribute is read from the new one(s), old names mapped."""

    def __init__(self, old: str, new: tuple[str, ...], renamed: dict[str, str]) -> None:
        super().__init__(old, f"Deprecated alias of {', '.join(new)}.")
        self.__dict__["_new"], self.__dict__["_renamed"] = new, renamed

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        new, renamed = self.__dict__["_new"], self.__dict__["_renamed"]
        return _resolve(renamed.get(name, name), new)

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("__"):  # the import system's own (__spec__, __package__, …): the alias's
            self.__dict__[name] = value
        else:  # e.g. monkeypatching a tolerance through the old name
            setattr(importlib.import_module(self.__dict__["_new"][0]), name, value)

    def __dir__(self) -> list[str]:
        names = set(self.__dict__["_renamed"])
        for module in self.__dict__["_new"]:
            names |= set(dir(importlib.import_module(module)))
        return sorted(names)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):  # noqa: ARG002 - the finder protocol
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, origin="deprecated alias")

    def create_module(self, spec):
        new, renamed = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {' / '.join(_targets(new))}", DeprecationWarning, stacklevel=2)
        return _Alias(spec.name, _targets(new), renamed)

    def exec_module(self, module) -> None:
        pass

    def get_code(self, fullname):
        """``python -m <old module>`` runs the new module's ``main()``."""
        new = _targets(MOVED[fullname][0])[0]
        return compile(f"import {new} as _m\n_m.main()\n", f"<alias of {new}>", "exec")

    def is_package(self, fullname) -> bool:  # noqa: ARG002
        return False
