"""SAM (being written)."""
__all__ = []
