"""The similarity track: the :class:`SimilarityMeasure` contract (the protocol comes with its issue).

Contract
========
A measure subclasses :class:`SimilarityMeasure` and implements ``score(X, Y, ctx) -> float`` for two
representations of the same ``n`` inputs: torch tensors ``[n, d1]`` and ``[n, d2]`` on ``ctx.device``. It
declares

``orientation``
    ``"similarity"`` (higher = more alike) or ``"distance"`` (0 = identical).
``invariances``
    the transformations of either argument it claims to ignore, from :data:`INVARIANCES`; the track's tests
    flag both a broken claim and an unclaimed invariance.
``symmetric``
    whether ``score(X, Y) == score(Y, X)``.
``is_metric``
    for distances: whether it claims the metric axioms (identity, symmetry, triangle inequality).

Name a measure by the choices that define it (kernel, estimator, score or distance), e.g.
``cka-linear-debiased``, so two implementations of "the same" measure can never be confused.
"""

from __future__ import annotations

from typing import ClassVar

from bench_core.errors import DeclarationError
from bench_core.tracks.base import Context, ContractOnlyTrack, Method, Score, Tags

INVARIANCES = ("orthogonal", "isotropic_scaling", "translation", "invertible_linear", "permutation")
ORIENTATIONS = ("similarity", "distance")


class SimilarityMeasure(Method):
    """A representational similarity measure. Implement ``score``."""

    kind: ClassVar[str] = "similarity"
    tags: ClassVar[Tags] = Tags(supervised=False)
    orientation: ClassVar[str] = "similarity"
    invariances: ClassVar[tuple[str, ...]] = ()
    symmetric: ClassVar[bool] = True
    is_metric: ClassVar[bool] = False

    def score(self, X, Y, ctx: Context) -> float:
        """The similarity (or distance) of representations ``X [n, d1]`` and ``Y [n, d2]``."""
        raise TypeError(f"{type(self).name} does not implement score()")

    @classmethod
    def validate_contract(cls) -> None:
        if cls.score is SimilarityMeasure.score:
            raise DeclarationError(f"similarity measure {cls.name!r} must implement score()")
        if cls.orientation not in ORIENTATIONS:
            raise DeclarationError(f"{cls.name!r}: orientation must be one of {ORIENTATIONS}")
        bad = [i for i in cls.invariances if i not in INVARIANCES]
        if bad:
            raise DeclarationError(f"{cls.name!r}: unknown invariance {bad[0]!r} (valid: {', '.join(INVARIANCES)})")
        if cls.is_metric and cls.orientation != "distance":
            raise DeclarationError(f"{cls.name!r}: only a distance can claim to be a metric")


class SimilarityTrack(ContractOnlyTrack):
    name = "similarity"
    hook = "featbench_register_similarity_measures"
    method_base = SimilarityMeasure
    task = "representations"
    primary = Score("grounding", "aggregate of the tests of the measures (documented with the protocol)")
