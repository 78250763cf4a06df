"""aichaos.load."""
