"""ATAC networks (being written)."""
__all__ = []
