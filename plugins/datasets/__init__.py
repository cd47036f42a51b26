"""Built-in datasets: the cards in the repository's ``datasets/`` folder, and the loaders and readers they name.

Loaders (Python sources) live in :mod:`plugins.datasets.loaders` (bundled real data) and
:mod:`plugins.datasets.synthetic` (generators with ground truth); readers of files from the data directory
in :mod:`plugins.datasets.readers`. Model-computed data shared by several tracks: the transformer
activations of :mod:`plugins.datasets.minilm` (``minilm.tokens``, ``minilm.sentences``, ``minilm.layers`` and
the model ``"minilm"``, a splice runner) and the small digits networks of :mod:`plugins.datasets.networks`
(``digits.networks``, ``digits.activations``). Heavy imports happen inside the loaders, never at plugin load.
"""

from __future__ import annotations

from pathlib import Path

from bench_core import hookimpl


def cards_dir() -> Path:
    """``featbench_builtins/_cards`` inside a wheel, else the checkout's ``datasets/`` folder (editable installs)."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_cards"
    return packaged if packaged.is_dir() else here.parent / "datasets"


@hookimpl
def featbench_register_datasets(register) -> None:
    from . import loaders, manifolds, minilm, networks, planted, readers, similarity_families, synthetic

    register.add_cards(cards_dir())
    for name, fn in {**loaders.LOADERS, **synthetic.GENERATORS, **manifolds.MANIFOLD_GENERATORS, **minilm.LOADERS,
                     **networks.LOADERS, **similarity_families.LOADERS, **planted.GENERATORS}.items():
        register.add_loader(name, fn)
    register.add_model("minilm", minilm.MiniLMRunner)
    for name, fn in readers.READERS.items():
        register.add_reader(name, fn)
