"""Segments (PRODUCT.md §5): filter trees compiled to SQL, live membership and enter/exit events."""
