"""aichaos.proxy."""
