"""The SAE track: the :class:`SAE` contract (the protocol comes with the SAE-track issue).

Contract
========
An SAE (or any dictionary-learning method) subclasses :class:`SAE` and implements

``fit(acts, ctx)``
    learn from training activations ``acts`` (a float32 torch tensor ``[n_tokens, d]`` on ``ctx.device``).
``encode(x) -> z``
    codes ``[n, m]`` for activations ``[n, d]``.
``decode(z) -> x_hat``
    reconstructions ``[n, d]`` from codes ``[n, m]``.
``dictionary``
    a property: the decoder atoms as a tensor ``[m, d]``.

``sparsity_param`` names the hyper-parameter that sets the sparsity (``"k"`` for TopK-like methods, an L1
coefficient for others); the protocol sweeps it to trace a reconstruction-vs-L0 frontier and compares methods
only at matched L0. SAEs are unsupervised: they never see labels.
"""

from __future__ import annotations

from typing import ClassVar

from bench_core.errors import DeclarationError
from bench_core.tracks.base import Context, ContractOnlyTrack, Method, Score, Tags


class SAE(Method):
    """A sparse autoencoder / dictionary. Implement ``fit``, ``encode``, ``decode`` and ``dictionary``."""

    kind: ClassVar[str] = "saes"
    tags: ClassVar[Tags] = Tags(supervised=False)
    #: The hyper-parameter the protocol sweeps to reach each target L0 (must be one of ``params``).
    sparsity_param: ClassVar[str | None] = None

    def fit(self, acts, ctx: Context) -> None:
        """Learn the dictionary from training activations ``[n, d]``."""
        raise TypeError(f"{type(self).name} does not implement fit()")

    def encode(self, x):
        """Codes ``[n, m]`` of activations ``[n, d]``."""
        raise TypeError(f"{type(self).name} does not implement encode()")

    def decode(self, z):
        """Reconstructions ``[n, d]`` of codes ``[n, m]``."""
        raise TypeError(f"{type(self).name} does not implement decode()")

    @property
    def dictionary(self):
        """Decoder atoms ``[m, d]``."""
        raise TypeError(f"{type(self).name} does not implement dictionary")

    @classmethod
    def validate_contract(cls) -> None:
        for attr in ("fit", "encode", "decode", "dictionary"):
            if getattr(cls, attr) is getattr(SAE, attr):
                raise DeclarationError(f"SAE {cls.name!r} must implement {attr}")
        if cls.sparsity_param is not None and cls.sparsity_param not in cls.params:
            raise DeclarationError(f"SAE {cls.name!r}: sparsity_param {cls.sparsity_param!r} is not in params")
        if cls.tags.supervised:
            raise DeclarationError(f"SAE {cls.name!r}: SAEs are unsupervised (tags.supervised must be False)")


class SAEsTrack(ContractOnlyTrack):
    name = "saes"
    hook = "featbench_register_saes"
    method_base = SAE
    task = "activations"
    primary = Score("fvu_auc", "area under fraction-of-variance-unexplained vs log L0 (lower is better)",
                    higher_is_better=False)
