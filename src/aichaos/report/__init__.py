"""aichaos.report."""
