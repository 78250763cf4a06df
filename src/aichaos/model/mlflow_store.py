"""Two ways to talk to an MLflow model registry, behind one small interface.

* :class:`RestStore` -- an ``http(s)://`` tracking server through MLflow's public REST API
  (``/api/2.0/mlflow/...``) with ``urllib``: one bounded request per call, no retry storm,
  and no ``import mlflow`` (which takes 1-2 s), so the watchdog can undo quickly.
* :class:`ClientStore` -- any other tracking URI (``sqlite:///``, ``postgresql://``,
  ``file:``) through ``mlflow.MlflowClient``, imported only here.

Both translate failures into aichaos errors: an unreachable registry is a
:class:`~aichaos.errors.TargetError`; a model or version that is not there is a
:class:`~aichaos.errors.ValidationError` naming it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aichaos.errors import TargetError, ValidationError

__all__ = ["AliasStore", "ClientStore", "ModelState", "RestStore", "open_store", "redact"]


@dataclass(frozen=True)
class ModelState:
    """A registered model's aliases, tags and READY versions (as strings, ascending)."""

    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    versions: list[str] = field(default_factory=list)


class AliasStore(Protocol):
    """What the MLflow faults need from a registry, for one registered model."""

    def state(self) -> ModelState:
        """Aliases, tags and versions of the model (ValidationError if it does not exist)."""

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""

    def delete_alias(self, alias: str) -> None:
        """Remove ``alias`` (no error if it is absent)."""

    def set_tag(self, key: str, value: str) -> None:
        """Set a registered-model tag."""

    def delete_tag(self, key: str) -> None:
        """Remove a registered-model tag (no error if it is absent)."""

    def download_uri(self, version: str) -> str:
        """Where the artifacts of ``version`` are stored."""


def redact(uri: str) -> str:
    """``uri`` without a password, for messages and journals."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _sort(versions: list[str]) -> list[str]:
    return sorted(versions, key=lambda v: (len(v), v))  # MLflow versions are 1, 2, ... 10


class RestStore:
    """A registered model on an MLflow tracking server, over its REST API."""

    def __init__(self, uri: str, model: str, timeout_s: float = 5.0) -> None:
        self.base = uri.rstrip("/") + "/api/2.0/mlflow/"
        self.uri = uri
        self.model = model
        self.timeout_s = timeout_s

    def _call(self, method: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.base + endpoint
        data = None
        headers = {"Accept": "application/json"}
        if method == "GET":
            url += "?" + urllib.parse.urlencode(body)
        else:  # MLflow's own client sends DELETE parameters as a JSON body too
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            try:
                err = json.loads(detail)
            except ValueError:
                err = {}
            if err.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
                raise ValidationError(str(err.get("message", detail))) from None
            raise TargetError(
                f"MLflow server {redact(self.uri)} answered {method} {endpoint} with "
                f"{exc.code}: {detail}"
            ) from None
        except (OSError, TimeoutError) as exc:  # URLError is an OSError
            reason = getattr(exc, "reason", exc)
            raise TargetError(f"cannot reach MLflow server {redact(self.uri)}: {reason}") from None
        result: dict[str, Any] = json.loads(raw or b"{}")
        return result

    def state(self) -> ModelState:
        got = self._call("GET", "registered-models/get", {"name": self.model})
        rm = got.get("registered_model", {})
        aliases = {a["alias"]: str(a["version"]) for a in rm.get("aliases", [])}
        tags = {t["key"]: t.get("value", "") for t in rm.get("tags", [])}
        versions: list[str] = []
        token = ""
        for _ in range(1000):  # bounded paging
            q = {"filter": f"name='{self.model}'", "max_results": "1000"}
            if token:
                q["page_token"] = token
            page = self._call("GET", "model-versions/search", q)
            versions += [
                str(v["version"])
                for v in page.get("model_versions", [])
                if v.get("status", "READY") == "READY"
            ]
            token = page.get("next_page_token", "")
            if not token:
                break
        return ModelState(aliases, tags, _sort(versions))

    def set_alias(self, alias: str, version: str) -> None:
        body = {"name": self.model, "alias": alias, "version": version}
        self._call("POST", "registered-models/alias", body)

    def delete_alias(self, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": self.model, "alias": alias})

    def set_tag(self, key: str, value: str) -> None:
        body = {"name": self.model, "key": key, "value": value}
        self._call("POST", "registered-models/set-tag", body)

    def delete_tag(self, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", {"name": self.model, "key": key})

    def download_uri(self, version: str) -> str:
        body = {"name": self.model, "version": version}
        got = self._call("GET", "model-versions/get-download-uri", body)
        return str(got["artifact_uri"])


class ClientStore:
    """A registered model in any registry ``mlflow.MlflowClient`` opens (sqlite, SQL, file)."""

    def __init__(self, uri: str, model: str) -> None:
        if uri.startswith("sqlite:///"):
            # MLflow would silently create a new, empty database: a typo must not do that.
            db = Path(uri.removeprefix("sqlite:///").split("?", 1)[0])
            if not db.is_absolute():
                db = Path.cwd() / db
            if not db.is_file():
                raise TargetError(f"tracking_uri names no existing sqlite database, got {uri!r}")
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise TargetError(
                "the mlflow-registry target needs mlflow: pip install 'aichaos[mlflow]'"
            ) from exc
        self.uri = uri
        self.model = model
        try:
            self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        except Exception as exc:
            raise TargetError(f"cannot open MLflow registry {redact(uri)}: {exc}") from exc

    def _do(self, what: str, fn: Any, *args: Any) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise ValidationError(exc.message) from None
            raise TargetError(f"MLflow {what} on {redact(self.uri)} failed: {exc.message}") from exc
        except Exception as exc:  # e.g. sqlalchemy OperationalError: a locked or broken db
            raise TargetError(f"MLflow {what} on {redact(self.uri)} failed: {exc}") from exc

    def state(self) -> ModelState:
        rm = self._do("get model", self.client.get_registered_model, self.model)
        found = self._do(
            "search versions", self.client.search_model_versions, f"name='{self.model}'"
        )
        versions = [str(v.version) for v in found if v.status == "READY"]
        aliases = {a: str(v) for a, v in (rm.aliases or {}).items()}
        return ModelState(aliases, dict(rm.tags or {}), _sort(versions))

    def set_alias(self, alias: str, version: str) -> None:
        self._do("set alias", self.client.set_registered_model_alias, self.model, alias, version)

    def delete_alias(self, alias: str) -> None:
        self._do("delete alias", self.client.delete_registered_model_alias, self.model, alias)

    def set_tag(self, key: str, value: str) -> None:
        self._do("set tag", self.client.set_registered_model_tag, self.model, key, value)

    def delete_tag(self, key: str) -> None:
        self._do("delete tag", self.client.delete_registered_model_tag, self.model, key)

    def download_uri(self, version: str) -> str:
        get = self.client.get_model_version_download_uri
        return str(self._do("get download uri", get, self.model, version))


def open_store(uri: str, model: str, timeout_s: float = 5.0) -> AliasStore:
    """The store for ``uri``: REST for an http(s) server, MlflowClient otherwise."""
    if uri.startswith(("http://", "https://")):
        return RestStore(uri, model, timeout_s)
    return ClientStore(uri, model)
