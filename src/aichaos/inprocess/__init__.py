"""aichaos.inprocess."""
