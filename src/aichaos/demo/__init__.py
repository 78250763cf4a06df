"""aichaos.demo."""
