"""AT kernel layer (being written)."""
__all__ = []
