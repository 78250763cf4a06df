"""Name -> class registries for faults, probes and targets.

Built-in types live in modules listed in a registry's ``builtin_modules``; each module
registers its own class with a decorator when imported. Third-party types come in through
an entry-point group (``aichaos.faults``, ``aichaos.probes``, ``aichaos.targets``): each
entry point names a module to import, which registers itself the same way.

Nothing is imported until it is needed. Looking up one name imports only the built-in
module whose source registers it (found by reading the sources, not importing them), so
a run that uses three types does not import thirty modules, build their schemas and scan
every installed distribution's entry points. Listing the names, or a name no built-in
registers, loads everything: built-ins and plugins (where a plugin reusing a built-in
name is reported).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar

from aichaos.errors import RegistryError

__all__ = ["Registry"]

T = TypeVar("T")

_REGISTERS = re.compile(r"""\.register\(\s*["']([^"']+)["']\s*\)""")


class Registry(Generic[T]):
    """A registry of named types of one family (faults, probes, targets).

    >>> from aichaos.faults import FAULTS
    >>> "process-pause" in FAULTS
    True
    """

    def __init__(self, family: str, group: str, builtin_modules: tuple[str, ...]) -> None:
        self.family = family
        self.group = group
        self.builtin_modules = builtin_modules
        self._items: dict[str, type[T]] = {}
        self._loaded = False
        self._index: dict[str, str] | None = None

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register ``cls`` under ``name`` (and set ``cls.type = name``)."""

        def deco(cls: type[T]) -> type[T]:
            existing = self._items.get(name)
            if existing is not None and existing is not cls:
                raise RegistryError(
                    f"{self.family} type {name!r} is registered twice: "
                    f"{existing.__module__}.{existing.__qualname__} and "
                    f"{cls.__module__}.{cls.__qualname__}"
                )
            cls.type = name  # type: ignore[attr-defined]
            self._items[name] = cls
            return cls

        return deco

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self.builtin_modules:
            importlib.import_module(module)
        for ep in entry_points(group=self.group):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin must not break the tool
                raise RegistryError(
                    f"plugin {ep.name!r} in entry-point group {self.group!r} failed to load: {exc}"
                ) from exc

    def _builtin_module(self, name: str) -> str | None:
        """The built-in module whose source registers ``name`` (read, not imported)."""
        if self._index is None:
            self._index = {}
            for module in self.builtin_modules:
                try:
                    spec = importlib.util.find_spec(module)
                    source = Path(spec.origin).read_text() if spec and spec.origin else ""
                except (ImportError, OSError, ValueError):
                    continue  # the full load says what is wrong with it
                for found in _REGISTERS.findall(source):
                    self._index.setdefault(found, module)
        return self._index.get(name)

    def _find(self, name: str) -> type[T] | None:
        cls = self._items.get(name)
        if cls is None and not self._loaded:
            module = self._builtin_module(name)
            if module is not None:
                importlib.import_module(module)
                cls = self._items.get(name)
            if cls is None:
                self._load()
                cls = self._items.get(name)
        return cls

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``; a :class:`RegistryError` names the known ones."""
        cls = self._find(name)
        if cls is None:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(f"unknown {self.family} type {name!r}; known: {known}")
        return cls

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, type[T]]]:
        """(name, class) pairs, sorted by name."""
        self._load()
        for name in sorted(self._items):
            yield name, self._items[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None
