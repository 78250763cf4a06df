"""aichaos.model."""
