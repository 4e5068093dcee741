"""Abby's core: every business operation, free of any front-end library."""
