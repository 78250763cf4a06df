"""aichaos.data."""
