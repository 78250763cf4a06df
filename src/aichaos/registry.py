"""Name -> class registries for faults, probes and targets.

Built-in types live in modules listed in a registry's ``builtin_modules``; each module
registers its own class with a decorator when imported. The modules are imported only on
the first lookup, so ``import aichaos`` stays fast. Third-party types come in through an
entry-point group (``aichaos.faults``, ``aichaos.probes``, ``aichaos.targets``): each entry
point names a module to import, which registers itself the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from aichaos.errors import RegistryError

__all__ = ["Registry"]

T = TypeVar("T")


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

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``; a :class:`RegistryError` names the known ones."""
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise RegistryError(f"unknown {self.family} type {name!r}; known: {known}") from None

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
        self._load()
        return name in self._items
