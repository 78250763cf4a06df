"""aichaos.experiment."""
