"""Datasets: cards (:mod:`.cards`), split materialisation and checksums (:mod:`.splits`), and verified,
cached materialised data (:mod:`.dataset`)."""

from bench_core.data.cards import Card, CardError, parse_card
from bench_core.data.dataset import Dataset, RawData, Split

__all__ = ["Card", "CardError", "Dataset", "RawData", "Split", "parse_card"]
