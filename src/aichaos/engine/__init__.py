"""aichaos.engine."""
