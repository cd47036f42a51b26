"""Built-in representational similarity measures (one module per family), registered through entry points."""
