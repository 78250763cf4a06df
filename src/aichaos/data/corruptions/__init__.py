"""Built-in corruptions, one module each; each registers itself in ``CORRUPTIONS``."""
