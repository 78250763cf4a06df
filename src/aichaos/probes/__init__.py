"""aichaos.probes."""
