"""Registry pointer faults: ``model-stale-version``, ``model-wrong-version``,
``model-delayed-promotion``.

All three control what the ``current`` pointer shows while the fault is on. The pointer
the deploy pipeline *wants* is kept in a backup entry beside it: at apply that is the
original; if the pipeline promotes a version meanwhile, the watcher moves that new
pointer into the backup and shows the fault's version again. Revert -- or the watchdog's
:class:`~aichaos.faults.undo.RestoreFile` if the runner died -- renames the backup over
the pointer, so the registry ends where the pipeline meant it to be.

A delayed promotion shows the old version for ``delay_s`` after each promotion and then
lets the promotion through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from typing import Any, ClassVar

from pydantic import Field

from aichaos.errors import TargetError, ValidationError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.undo import RestoreFile, UndoAction
from aichaos.model.registry import DirectoryRegistry, ModelRegistryTarget

__all__ = ["DelayedPromotion", "StaleVersion", "WrongVersion"]


class _PointerFault(Fault):
    target_kinds: ClassVar[tuple[str, ...]] = ("model-registry",)

    poll_ms: float = Field(50, gt=0, le=10_000, description="how often promotions are checked")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection on ``ctx.target``'s registry."""
        if not isinstance(ctx.target, ModelRegistryTarget):
            raise TargetError(f"{self.type} needs a target of type 'model-registry'")
        return _PointerInjection(self, ctx)

    def shown(self, reg: DirectoryRegistry, original: str) -> str:
        """The version the pointer shows while the fault is on."""
        return original


@FAULTS.register("model-stale-version")
class StaleVersion(_PointerFault):
    """Pin an older version (default: the one before current); hold back promotions."""

    version: str | None = Field(None, description="version to pin; default: previous")

    def shown(self, reg: DirectoryRegistry, original: str) -> str:
        if self.version is not None:
            reg.path(self.version)
            return self.version
        return reg.previous(original)


@FAULTS.register("model-wrong-version")
class WrongVersion(_PointerFault):
    """Point ``current`` at a given wrong version; hold back promotions."""

    version: str = Field(description="the version served by mistake")

    def shown(self, reg: DirectoryRegistry, original: str) -> str:
        reg.path(self.version)
        return self.version


@FAULTS.register("model-delayed-promotion")
class DelayedPromotion(_PointerFault):
    """A promotion made while the fault is on takes effect only ``delay_s`` later."""

    delay_s: float = Field(gt=0, description="how late each promotion becomes current")


class _PointerInjection(Injection):
    fault: _PointerFault

    def __init__(self, fault: _PointerFault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.target: ModelRegistryTarget = ctx.target
        self.reg: DirectoryRegistry | None = None
        self.backup: str = ""
        self.showing: str = ""
        self.held_since: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.promotions_held = 0

    async def apply(self) -> None:
        reg = self.target.open()
        original = reg.current()
        if original is None:
            raise ValidationError(f"registry {reg.root} has no {reg.pointer.name!r} pointer")
        showing = self.fault.shown(reg, original)
        self.reg = reg
        self.backup = str(reg.root / f".{reg.pointer.name}.aichaos-{uuid.uuid4().hex[:8]}")
        self._keep_copy()
        self.showing = showing
        if showing != original:
            reg.write_pointer(showing)
        self.task = asyncio.create_task(self._watch())

    def _keep_copy(self) -> None:
        """Copy the live pointer (keeping its kind) to the backup entry."""
        assert self.reg is not None
        tmp = f"{self.backup}.tmp"
        if self.reg.pointer.is_symlink():
            os.symlink(os.readlink(self.reg.pointer), tmp)
        else:
            shutil.copy2(self.reg.pointer, tmp)
        os.replace(tmp, self.backup)

    async def _watch(self) -> None:
        assert self.reg is not None
        delay = getattr(self.fault, "delay_s", None)
        while True:
            await asyncio.sleep(self.fault.poll_ms / 1000)
            now = time.monotonic()
            if self.reg.current() != self.showing:
                # The pipeline promoted: keep its pointer as the wanted one, show ours.
                os.replace(self.reg.pointer, self.backup)
                self.reg.write_pointer(self.showing)
                self.promotions_held += 1
                self.held_since = now
            elif (
                delay is not None and self.held_since is not None and now - self.held_since >= delay
            ):
                os.replace(self.backup, self.reg.pointer)
                self.showing = self.reg.current() or self.showing
                self._keep_copy()
                self.held_since = None

    async def revert(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await asyncio.to_thread(self._restore)

    def _restore(self) -> None:
        if self.reg is not None and os.path.lexists(self.backup):
            os.replace(self.backup, self.reg.pointer)

    def undo_actions(self) -> list[UndoAction]:
        if self.reg is None:
            return []
        return [RestoreFile(backup=self.backup, path=str(self.reg.pointer))]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "showing": self.showing, "held": self.promotions_held}
