"""A dataset provider whose card pins checksums that do not match its data."""

from pathlib import Path

from bench_core import hookimpl


@hookimpl
def featbench_register_datasets(register):
    register.add_cards(Path(__file__).parent / "cards_mismatch")
