"""ACmix networks (being written)."""
__all__ = []
