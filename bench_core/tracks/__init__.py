"""Tracks: one module per method kind, each holding its contract class, protocol and scores.

============  ===============================================  =====================================
track         contract class                                   hook
============  ===============================================  =====================================
selectors     :class:`~bench_core.tracks.selectors.Selector`   ``featbench_register_selectors``
saes          :class:`~bench_core.tracks.saes.SAE`             ``featbench_register_saes``
similarity    :class:`~bench_core.tracks.similarity.SimilarityMeasure`  ``featbench_register_similarity_measures``
reducers      :class:`~bench_core.tracks.reducers.Reducer`     ``featbench_register_reducers``
============  ===============================================  =====================================
"""

from bench_core.tracks.base import Track
from bench_core.tracks.reducers import ReducersTrack
from bench_core.tracks.saes import SAEsTrack
from bench_core.tracks.selectors import SelectorsTrack
from bench_core.tracks.similarity import SimilarityTrack

TRACKS: dict[str, Track] = {t.name: t for t in (SelectorsTrack(), SAEsTrack(), SimilarityTrack(), ReducersTrack())}

__all__ = ["TRACKS", "Track"]
