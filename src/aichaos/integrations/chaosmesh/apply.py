"""Create exported manifests on a cluster with the official ``kubernetes`` client.

``apply`` creates the Workflow, waits until its schedule has run (or the Workflow is
aborted by its StatusCheck, which the result says: the CLI exits 3 like an aborted run),
then deletes it -- Chaos Mesh deletes the chaos it created with it. Deleting happens on
every exit path (normal end, error, Ctrl-C, SIGTERM: the CLI turns it into an exception
that unwinds through here): that is the rollback. Without a configured cluster it says so
and creates nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aichaos.errors import InjectionError, TargetError

__all__ = ["Applied", "NoCluster", "apply", "load_cluster_config"]

GROUP, VERSION = "chaos-mesh.org", "v1alpha1"
_PLURALS = {
    "Workflow": "workflows",
    "HTTPChaos": "httpchaos",
    "NetworkChaos": "networkchaos",
    "PodChaos": "podchaos",
    "StressChaos": "stresschaos",
}


class NoCluster(TargetError):
    """No Kubernetes cluster is configured here."""


@dataclass
class Applied:
    """What :func:`apply` created (and deleted), and whether a StatusCheck aborted it."""

    names: list[str] = field(default_factory=list)
    aborted: bool = False
    accomplished: bool = False


def load_cluster_config() -> Any:
    """An ``ApiClient`` for the configured cluster (kubeconfig, else in-cluster)."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise NoCluster("--apply needs the kubernetes client: pip install 'aichaos[k8s]'") from None
    try:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    except Exception as kube_exc:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except Exception:
            raise NoCluster(
                "no Kubernetes cluster is configured (no usable kubeconfig at $KUBECONFIG or "
                f"~/.kube/config: {kube_exc}; not running in a pod): nothing was applied"
            ) from None
    return client.ApiClient()


def apply(
    manifests: list[dict[str, Any]],
    *,
    wait_s: float,
    echo: Callable[[str], None] = print,
    poll_s: float = 2.0,
    api: Any = None,
) -> Applied:
    """Create ``manifests``, wait ``wait_s`` (or until the Workflow is aborted or
    accomplished), delete them; says what was created and how it ended."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    custom = client.CustomObjectsApi(api or load_cluster_config())
    created: list[tuple[str, str, str]] = []
    result = Applied()
    try:
        for m in manifests:
            plural = _PLURALS[m["kind"]]
            ns, name = m["metadata"]["namespace"], m["metadata"]["name"]
            try:
                custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, m)
            except ApiException as exc:
                raise InjectionError(
                    f"cluster refused {m['kind']}/{name}: {exc.status} {exc.reason}: {exc.body}"
                ) from exc
            except Exception as exc:  # urllib3 connection errors and the like
                raise TargetError(
                    f"cannot reach the cluster to create {m['kind']}/{name}: {exc}"
                ) from exc
            created.append((ns, plural, name))
            echo(f"created {m['kind']}/{name} in {ns}")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            state = _state(custom, created)
            if state == "Aborted":
                echo("the Workflow was aborted (its StatusCheck failed)")
                result.aborted = True
                break
            if state == "Accomplished":
                echo("the Workflow has accomplished its schedule")
                result.accomplished = True
                break
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    finally:
        for ns, plural, name in reversed(created):
            try:
                custom.delete_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
                echo(f"deleted {plural}/{name}")
            except Exception as exc:  # keep deleting the others
                echo(f"could not delete {plural}/{name}: {exc} (delete it by hand)")
    result.names = [name for _, _, name in created]
    return result


def _state(custom: Any, created: list[tuple[str, str, str]]) -> str | None:
    """``Aborted`` or ``Accomplished`` once a created Workflow's condition says so."""
    for ns, plural, name in created:
        if plural != "workflows":
            continue
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, plural, name)
        conditions = (obj.get("status") or {}).get("conditions") or []
        for kind in ("Aborted", "Accomplished"):
            if any(c.get("type") == kind and c.get("status") == "True" for c in conditions):
                return kind
    return None
