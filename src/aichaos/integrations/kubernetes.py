"""The ``kubernetes`` target: pods chosen by namespace and label selector.

::

    targets:
      api: {type: kubernetes, namespace: serving, selector: {app: inference}, port: 8080}

It is what ``aichaos export chaos-mesh`` turns into a Chaos Mesh ``selector``; the
optional ``container`` limits container-level faults (stress, kill) to one container and
``port`` is the HTTP port that HTTP faults intercept.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from aichaos.targets import TARGETS, Target

__all__ = ["KubernetesTarget"]

# label keys: optional DNS prefix, then a name of <= 63 alphanumerics, '-', '_', '.'
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


@TARGETS.register("kubernetes")
class KubernetesTarget(Target):
    """Pods in ``namespace`` whose labels match ``selector`` (optionally one container)."""

    namespace: str = Field(pattern=_DNS_LABEL, description="the pods' namespace")
    selector: dict[str, str] = Field(
        min_length=1, description="label selector, e.g. {app: inference}"
    )
    container: str | None = Field(None, pattern=_DNS_LABEL, description="one container only")
    port: int | None = Field(None, gt=0, le=65535, description="HTTP port HTTP faults intercept")

    @field_validator("selector")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _LABEL_KEY.match(key):
                raise ValueError(f"selector key {key!r} is not a valid Kubernetes label key")
            if not _LABEL_VALUE.match(value):
                raise ValueError(
                    f"selector value {value!r} (key {key!r}) is not a valid label value"
                )
        return v

    def describe(self) -> str:
        """One line for the plan and the journal."""
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))
        where = f" container {self.container}" if self.container else ""
        return f"kubernetes {self.namespace}/{labels}{where}"

    def chaos_mesh_selector(self) -> dict[str, object]:
        """This target as a Chaos Mesh ``selector``."""
        return {"namespaces": [self.namespace], "labelSelectors": dict(self.selector)}
