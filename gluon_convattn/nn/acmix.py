"""ACmix layer (being written)."""
__all__ = []
