"""KAConv networks (being written)."""
__all__ = []
