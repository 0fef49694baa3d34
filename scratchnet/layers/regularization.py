"""Placeholder: filled in by the layers work (issue 3)."""
__all__: list[str] = []
