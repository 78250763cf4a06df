"""Registry pointer faults: ``model-stale-version``, ``model-wrong-version``,
``model-delayed-promotion``.

All three control which version the registry's pointer shows while the fault is on: the
``current`` entry of a directory registry (``model-registry``) or the serving alias of an
MLflow registered model (``mlflow-registry``). The same faults act on both targets
because the semantics are the same; only the pointer differs, behind :class:`Pointer`.

The pointer the deploy pipeline *wants* is kept aside (directory: a backup entry beside
the pointer; MLflow: a registered-model tag): at apply that is the original; if the
pipeline promotes a version meanwhile, the watcher keeps that new pointer as the wanted
one and shows the fault's version again. Revert -- or the watchdog's undo action if the
runner died -- puts the wanted pointer back, so the registry ends where the pipeline
meant it to be.

A delayed promotion shows the old version for ``delay_s`` after each promotion and then
lets the promotion through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import ConfigDict, Field

from aichaos.errors import TargetError, ValidationError
from aichaos.eventloop import stop
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.undo import RestoreFile, UndoAction
from aichaos.model.directory_registry import DirectoryRegistry, ModelRegistryTarget
from aichaos.model.mlflow_registry import MlflowRegistryTarget

__all__ = ["DelayedPromotion", "DirectoryPointer", "Pointer", "StaleVersion", "WrongVersion"]

_T = TypeVar("_T")
_KINDS = ("model-registry", "mlflow-registry")


class Pointer(Protocol):
    """A registry's live-version pointer and the wanted pointer kept aside during a fault.

    Methods block (file or registry I/O); the injection calls them in a thread.
    """

    where: str

    def current(self) -> str | None:
        """The version the pointer names now (``None``: no pointer)."""

    def look(self) -> tuple[str | None, str | None]:
        """(the version the pointer names now, the wanted version held aside), read
        together (one request where the registry is remote)."""

    def keep_alive(self) -> None:
        """Mark the hold as in use (a promotion ignores an orphaned one)."""

    def check(self, version: str) -> None:
        """ValidationError unless the registry has ``version``."""

    def previous(self, version: str) -> str:
        """The version before ``version``; ValidationError if there is none."""

    def hold(self) -> None:
        """Keep what the pointer names now as the wanted pointer."""

    def show(self, version: str) -> None:
        """Make the live pointer name ``version``."""

    def release(self) -> None:
        """Put the wanted pointer back live and forget it (idempotent)."""

    def undo_actions(self) -> list[UndoAction]:
        """What the watchdog runs to :meth:`release` if the runner dies."""


class DirectoryPointer:
    """The ``current`` entry of a :class:`DirectoryRegistry`; the wanted one is a backup entry."""

    def __init__(self, reg: DirectoryRegistry) -> None:
        self.reg = reg
        self.where = f"registry {reg.root}"
        self.backup = str(reg.new_hold())

    def current(self) -> str | None:
        return self.reg.current()

    def look(self) -> tuple[str | None, str | None]:
        return self.reg.current(), self.reg.read_pointer(Path(self.backup))

    def keep_alive(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.backup, follow_symlinks=False)

    def check(self, version: str) -> None:
        self.reg.path(version)

    def previous(self, version: str) -> str:
        return self.reg.previous(version)

    def hold(self) -> None:
        # Copied (keeping its kind) and renamed: the live pointer is never missing.
        tmp = f"{self.backup}.tmp"
        if self.reg.pointer.is_symlink():
            os.symlink(os.readlink(self.reg.pointer), tmp)
        else:
            shutil.copy2(self.reg.pointer, tmp)
        os.replace(tmp, self.backup)

    def show(self, version: str) -> None:
        self.reg.write_pointer(version)

    def release(self) -> None:
        if os.path.lexists(self.backup):
            os.replace(self.backup, self.reg.pointer)

    def undo_actions(self) -> list[UndoAction]:
        return [RestoreFile(backup=self.backup, path=str(self.reg.pointer))]


def _look_alive(reg: Pointer) -> tuple[str | None, str | None]:
    """One poll's I/O in one thread hop: refresh the hold, then look at both pointers."""
    reg.keep_alive()
    return reg.look()


def open_pointer(target: Any) -> Pointer:
    """The pointer of a ``model-registry`` or ``mlflow-registry`` target (blocking)."""
    if isinstance(target, ModelRegistryTarget):
        return DirectoryPointer(target.open())
    if isinstance(target, MlflowRegistryTarget):
        return target.open()
    raise TargetError("registry faults need a target of type 'model-registry' or 'mlflow-registry'")


class _PointerFault(Fault):
    # MLflow versions are numbers: accept version: 3 as well as "3"
    model_config = ConfigDict(coerce_numbers_to_str=True)
    target_kinds: ClassVar[tuple[str, ...]] = _KINDS

    poll_ms: float = Field(50, gt=0, le=10_000, description="how often promotions are checked")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``ctx.target``'s registry."""
        self.require_target(ctx, ModelRegistryTarget, MlflowRegistryTarget)
        return _PointerInjection(self, ctx)

    def shown(self, reg: Pointer, original: str) -> str:
        """The version the pointer shows while the fault is on."""
        return original


@FAULTS.register("model-stale-version")
class StaleVersion(_PointerFault):
    """Pin an older version (default: the one before current); hold back promotions."""

    version: str | None = Field(None, description="version to pin; default: previous")

    def shown(self, reg: Pointer, original: str) -> str:
        if self.version is not None:
            reg.check(self.version)
            return self.version
        return reg.previous(original)


@FAULTS.register("model-wrong-version")
class WrongVersion(_PointerFault):
    """Point ``current`` at a given wrong version; hold back promotions."""

    version: str = Field(description="the version served by mistake")

    def shown(self, reg: Pointer, original: str) -> str:
        reg.check(self.version)
        return self.version


@FAULTS.register("model-delayed-promotion")
class DelayedPromotion(_PointerFault):
    """A promotion made while the fault is on takes effect only ``delay_s`` later."""

    delay_s: float = Field(gt=0, description="how late each promotion becomes current")


class _PointerInjection(Injection):
    fault: _PointerFault

    def __init__(self, fault: _PointerFault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.reg: Pointer | None = None
        self.showing: str = ""
        self.held_since: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.promotions_held = 0
        #: the wanted version as last seen in the hold
        self.wanted: str | None = None
        #: (the live version, the wanted version) read from the registry just before release
        self.last_look: tuple[str | None, str | None] | None = None
        self.look_error: str | None = None

    async def _io(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.to_thread(fn, *args)

    async def apply(self) -> None:
        reg = await self._io(open_pointer, self.ctx.target)
        original = await self._io(reg.current)
        if original is None:
            raise ValidationError(f"{reg.where} has no live version pointer to act on")
        showing = await self._io(self.fault.shown, reg, original)
        await self._io(reg.hold)
        self.reg = reg  # from here on, revert has something to release
        self.showing = showing
        self.wanted = original
        if showing != original:
            await self._io(reg.show, showing)
        self.task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        reg = self.reg
        assert reg is not None
        delay = getattr(self.fault, "delay_s", None)
        while True:
            await asyncio.sleep(self.fault.poll_ms / 1000)
            now = self.ctx.clock()
            try:
                current, wanted = await self._io(_look_alive, reg)
                if current != self.showing:
                    # The pipeline promoted: keep its pointer as the wanted one, show ours.
                    await self._io(reg.hold)
                    await self._io(reg.show, self.showing)
                    self.promotions_held += 1
                    self.held_since = now
                    self.wanted = current
                elif wanted != self.wanted:
                    # The pipeline promoted into the hold (DirectoryRegistry.promote does
                    # while a fault holds the pointer): nothing to take back.
                    self.promotions_held += 1
                    self.held_since = now
                    self.wanted = wanted
                elif (
                    delay is not None
                    and self.held_since is not None
                    and now - self.held_since >= delay
                ):
                    await self._io(reg.release)
                    now_live = await self._io(reg.current)
                    self.showing = now_live or self.showing
                    await self._io(reg.hold)
                    self.held_since = None
                    self.wanted = now_live
            except TargetError:
                continue  # the registry is unreachable for a moment: try again next poll

    async def revert(self) -> None:
        if self.task is not None:
            await stop(self.task)
            self.task = None
        if self.reg is not None:
            try:
                # The registry's own word on what the fault left live, read before undoing it
                self.last_look = await self._io(self.reg.look)
            except TargetError as exc:
                self.look_error = f"registry not read before revert: {exc}"
            await self._io(self.reg.release)
            self.reg = None

    def effect(self) -> dict[str, Any] | None:
        """What the fault touched, as the registry showed it just before revert.

        ``model-delayed-promotion``: the promotions it held back (each seen in the registry
        while it was on). The pinning faults: 1 pointer moved if the registry's live pointer
        named another version than the one the pipeline wanted, else 0 (pinning the version
        already live changes nothing); the promotions held back ride along.
        """
        if self.look_error is not None:
            return {"error": self.look_error}
        if self.last_look is None:
            return None
        if isinstance(self.fault, DelayedPromotion):
            return {"touched": self.promotions_held, "unit": "promotions held back"}
        live, wanted = self.last_look
        moved = live is not None and wanted is not None and live != wanted
        return {
            "seen": 1,
            "touched": int(moved),
            "unit": "pointer moved",
            "live": live,
            "wanted": wanted,
            "promotions_held": self.promotions_held,
        }

    def undo_actions(self) -> list[UndoAction]:
        if self.reg is None:
            return []
        return self.reg.undo_actions()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "showing": self.showing, "held": self.promotions_held}
