"""aichaos.integrations."""
