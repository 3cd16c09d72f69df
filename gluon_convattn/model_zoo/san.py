"""SAN networks (being written)."""
__all__ = []
