"""KAConv, AGL, AGH (being written)."""
__all__ = []
