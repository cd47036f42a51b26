"""Built-in dimensionality reducers, registered through the ``featbench`` entry-point group like any
third-party plugin: controls (:mod:`.controls`), the classical spectral and distance methods
(:mod:`.classical`), the neighbour-embedding libraries (:mod:`.neighbour`) and reimplementations of methods
without a usable package (:mod:`.reimplemented`)."""
