"""aichaos.resource."""
