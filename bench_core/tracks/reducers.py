"""The reducers track: the :class:`Reducer` contract (the protocol comes with the reducers issue).

Contract
========
A reducer subclasses :class:`Reducer` and implements ``fit_transform(X, n_components, ctx) -> Z``: an array
``[n, n_components]`` (float) for the data ``X [n, d]``. A reducer that can embed new points also implements
``transform(X) -> Z`` after ``fit_transform``. Reducers never see labels (they are used only to score).
"""

from __future__ import annotations

from typing import ClassVar

from bench_core.errors import DeclarationError
from bench_core.tracks.base import Context, ContractOnlyTrack, Method, Score, Tags


class Reducer(Method):
    """A dimensionality reducer. Implement ``fit_transform`` (and optionally ``transform``)."""

    kind: ClassVar[str] = "reducers"
    tags: ClassVar[Tags] = Tags(supervised=False)

    def fit_transform(self, X, n_components: int, ctx: Context):
        """Embed ``X [n, d]`` into ``[n, n_components]``."""
        raise TypeError(f"{type(self).name} does not implement fit_transform()")

    def transform(self, X):
        """Embed new points with the fitted reducer (optional)."""
        raise TypeError(f"{type(self).name} cannot embed new points")

    @classmethod
    def supports_transform(cls) -> bool:
        return cls.transform is not Reducer.transform

    @classmethod
    def validate_contract(cls) -> None:
        if cls.fit_transform is Reducer.fit_transform:
            raise DeclarationError(f"reducer {cls.name!r} must implement fit_transform()")
        if cls.tags.supervised:
            raise DeclarationError(f"reducer {cls.name!r}: reducers are unsupervised (tags.supervised must be False)")


class ReducersTrack(ContractOnlyTrack):
    name = "reducers"
    hook = "featbench_register_reducers"
    method_base = Reducer
    task = "embedding"
    primary = Score("structure", "aggregate of local (T, C, R_NX AUC) and global (triplet, Shepard) scores")
