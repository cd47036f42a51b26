"""An example featbench plugin package."""
