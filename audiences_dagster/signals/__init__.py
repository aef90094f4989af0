"""Signals (PRODUCT.md §7): job changes, promotions and field changes detected from the store's history."""
