"""The Data Hub (PRODUCT.md §10): one report of what the store holds, for the UI and the CLI."""
