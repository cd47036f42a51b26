"""Built-in feature selectors, one module per family (each module is its own entry point)."""
