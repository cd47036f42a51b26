"""featbench's built-in baselines and datasets.

They are ordinary plugins, registered through the ``featbench`` entry-point group in ``pyproject.toml``
exactly as a third-party package would register its own; ``bench_core`` never imports this package.
"""
