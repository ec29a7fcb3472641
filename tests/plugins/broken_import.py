"""A plugin that raises at import."""

raise ImportError("No module named 'panns_inference'")
