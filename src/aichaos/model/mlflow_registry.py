"""The ``mlflow-registry`` target: a registered model in MLflow whose alias is the pointer.

A serving layer that loads ``models:/<model>@<alias>`` (``champion`` by default) serves
whatever version the alias names; a deploy pipeline promotes by moving the alias. The
pointer faults (``model-stale-version``, ``model-wrong-version``,
``model-delayed-promotion``) move it for the fault's duration, and
``model-corrupt-artifact`` damages a version's file in the artifact store.

While a pointer fault is on, the version the pipeline *wants* behind the alias is kept in
a registered-model tag, ``aichaos.wanted.<alias>``, so it lives in the registry itself and
not in the runner: a revert -- or the watchdog's undo, :func:`release_alias`, if the
runner died -- moves the alias there and deletes the tag, leaving the aliases and tags
exactly as the pipeline meant them to be. An alias that the pipeline deleted meanwhile is
kept as an empty tag value and deleted on release.

Tracking URIs: ``http(s)://`` servers are reached through the REST API (bounded
timeouts, no ``import mlflow``); anything else (``sqlite:///``, ``postgresql://``) goes
through ``mlflow.MlflowClient`` and needs ``pip install 'aichaos[mlflow]'``.
"""

from __future__ import annotations

import threading
import urllib.parse
from pathlib import Path
from typing import Any

from pydantic import Field

from aichaos.errors import TargetError, ValidationError
from aichaos.faults.undo import PythonCall, UndoAction
from aichaos.model.mlflow_store import AliasStore, open_store, redact
from aichaos.targets import TARGETS, Target

__all__ = ["MlflowRegistry", "MlflowRegistryTarget", "release_alias", "wanted_tag"]


def wanted_tag(alias: str) -> str:
    """The registered-model tag that holds the pipeline's wanted version during a fault."""
    return f"aichaos.wanted.{alias}"


@TARGETS.register("mlflow-registry")
class MlflowRegistryTarget(Target):
    """A registered ``model`` in the MLflow registry at ``tracking_uri``; ``alias`` serves.

    ``artifacts_destination`` is the local directory a tracking server stores proxied
    artifacts in (its ``--artifacts-destination``): it lets ``model-corrupt-artifact``
    find ``mlflow-artifacts:/`` files on this machine.
    """

    tracking_uri: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:",
        description="e.g. sqlite:////srv/mlflow.db or http://127.0.0.1:5000",
    )
    model: str = Field(min_length=1, description="registered model name")
    alias: str = Field(
        "champion",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the alias the serving layer loads (models:/<model>@<alias>)",
    )
    artifacts_destination: str | None = Field(
        None, description="local directory behind mlflow-artifacts:/ URIs (server targets)"
    )
    timeout_s: float = Field(5.0, gt=0, le=300, description="per-request timeout (http)")

    def open(self) -> MlflowRegistry:
        """The registry, checked: the model exists (blocking; may import mlflow)."""
        reg = MlflowRegistry(self)
        reg.state()
        return reg

    def describe(self) -> str:
        return f"mlflow-registry {self.model}@{self.alias} at {redact(self.tracking_uri)}"


class MlflowRegistry:
    """The pointer (the alias) and artifacts of one registered model.

    It offers what the pointer faults need (``current``, ``look``, ``check``,
    ``previous``, ``hold``, ``show``, ``release``, ``undo_actions``) and what the
    artifact faults need (``current``, ``path``). All methods block: call them in a
    thread from async code.
    """

    def __init__(self, target: MlflowRegistryTarget) -> None:
        self.target = target
        self.alias = target.alias
        self.where = target.describe()
        self.store: AliasStore = open_store(target.tracking_uri, target.model, target.timeout_s)

    def state(self) -> Any:
        """The model's aliases, tags and versions; ValidationError naming an unknown model."""
        try:
            return self.store.state()
        except ValidationError:
            raise ValidationError(
                f"model must name a registered model in {redact(self.target.tracking_uri)}, "
                f"got {self.target.model!r}"
            ) from None

    def current(self) -> str | None:
        """The version the alias names now (``None`` if the alias is not set)."""
        aliases: dict[str, str] = self.state().aliases
        return aliases.get(self.alias)

    def keep_alive(self) -> None:
        """Nothing to do: the held version is a tag, which no promotion writes into."""

    def look(self) -> tuple[str | None, str | None]:
        """(the version the alias names now, the wanted version held in the tag), from
        one request."""
        state = self.state()
        return state.aliases.get(self.alias), state.tags.get(wanted_tag(self.alias))

    def check(self, version: str) -> None:
        """ValidationError unless ``version`` is a READY version of the model."""
        versions: list[str] = self.state().versions
        if version not in versions:
            have = ", ".join(versions) or "none"
            raise ValidationError(
                f"version must be one of the model's versions ({have}), got {version!r}"
            )

    def previous(self, version: str) -> str:
        """The highest READY version below ``version``."""
        older = [v for v in self.state().versions if int(v) < int(version)]
        if not older:
            raise ValidationError(
                f"version {version!r} has no older version to fall back to; give version"
            )
        return str(older[-1])

    def hold(self) -> None:
        """Record the version the alias names now as the one the pipeline wants."""
        self.store.set_tag(wanted_tag(self.alias), self.current() or "")

    def show(self, version: str) -> None:
        """Point the alias at ``version``."""
        self.store.set_alias(self.alias, version)

    def release(self) -> None:
        """Move the alias to the wanted version and forget it (idempotent)."""
        _release(self.store, self.alias)

    def undo_actions(self) -> list[UndoAction]:
        """The watchdog's :func:`release_alias` call for this model and alias."""
        args = {
            "tracking_uri": self.target.tracking_uri,
            "model": self.target.model,
            "alias": self.alias,
            "timeout_s": self.target.timeout_s,
        }
        return [
            PythonCall(
                function="aichaos.model.mlflow_registry:release_alias",
                arguments=args,
                warm="aichaos.model.mlflow_registry:warm_alias",
            )
        ]

    def path(self, version: str) -> Path:
        """The local folder holding ``version``'s artifacts; TargetError if not local."""
        self.check(version)
        uri = self.store.download_uri(version)
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme in ("", "file"):
            folder = Path(urllib.parse.unquote(parts.path))
        elif parts.scheme == "mlflow-artifacts" and self.target.artifacts_destination:
            rel = urllib.parse.unquote(parts.path).lstrip("/")
            folder = Path(self.target.artifacts_destination) / rel
        else:
            raise TargetError(
                f"artifacts of version {version} are at {uri!r}, not on this machine "
                "(set artifacts_destination for a server's mlflow-artifacts:/ store)"
            )
        if not folder.is_dir():
            raise TargetError(f"artifact folder of version {version} does not exist: {folder}")
        return folder


def _release(store: AliasStore, alias: str) -> None:
    tag = wanted_tag(alias)
    tags = store.state().tags
    if tag not in tags:
        return  # already released
    wanted = tags[tag]
    if wanted:
        store.set_alias(alias, wanted)
    else:
        store.delete_alias(alias)
    store.delete_tag(tag)


_STORES: dict[tuple[str, str, float], AliasStore] = {}
_STORES_LOCK = threading.Lock()


def _store(tracking_uri: str, model: str, timeout_s: float) -> AliasStore:
    """One store per registry in this process (the watchdog): opening one can take
    seconds (a SQL store checks its schema), so it is opened once, ahead of need."""
    key = (tracking_uri, model, timeout_s)
    with _STORES_LOCK:  # an expiry during the warm-up waits for it instead of starting over
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = open_store(tracking_uri, model, timeout_s)
        return store


def warm_alias(tracking_uri: str, model: str, alias: str, timeout_s: float = 5.0) -> None:
    """Watchdog warm-up for :func:`release_alias`: open the registry's store now."""
    _store(tracking_uri, model, timeout_s).state()


def release_alias(tracking_uri: str, model: str, alias: str, timeout_s: float = 5.0) -> None:
    """Watchdog undo: put ``alias`` back on the wanted version kept in the registry.

    Idempotent: with no ``aichaos.wanted.<alias>`` tag there is nothing to do.
    """
    _release(_store(tracking_uri, model, timeout_s), alias)
