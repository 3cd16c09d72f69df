"""AT-kernel networks (being written)."""
__all__ = []
