"""ChaATAC (being written)."""
__all__ = []
