"""Export experiments to Chaos Mesh (Kubernetes): ``aichaos export chaos-mesh``.

* :mod:`.translate` -- one step's fault -> an HTTPChaos / NetworkChaos / PodChaos /
  StressChaos spec, or the reason it has no Chaos Mesh counterpart;
* :mod:`.export` -- the experiment -> those resources plus a Workflow that schedules them,
  with a StatusCheck guardrail that aborts;
* :mod:`.validate` -- every manifest checked against the CRD schemas and the value rules
  Chaos Mesh's admission webhook enforces;
* :mod:`.apply` -- create them with the official ``kubernetes`` client, delete on rollback.
"""
