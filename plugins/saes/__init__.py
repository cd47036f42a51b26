"""Built-in SAE-track methods: controls (:mod:`.controls`), SAEs on the shared trainer (:mod:`.trained`) and
classical decompositions (:mod:`.classical`), each registered through the ``featbench`` entry-point group."""
