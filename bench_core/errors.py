"""Exceptions with a meaning for the harness (each maps to an exit status or a job status)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (unknown name, malformed card, bad option): one line, exit status 2."""


class PluginError(Exception):
    """A plugin could not be loaded or registered (raised only in strict mode; otherwise it is listed)."""


class DeclarationError(ValueError):
    """A method class does not declare what its track's contract requires."""


class InvalidOutput(Exception):
    """A method returned something its contract forbids (NaN, wrong shape or dtype, bad indices).

    The job is recorded with status ``invalid``.
    """


class DataMissing(Exception):
    """An external dataset file is not in the data directory; its jobs are recorded as ``skipped``."""


class ChecksumMismatch(UsageError):
    """Derived data or split indices differ from the checksums pinned in the dataset card."""


class NotApplicable(Exception):
    """A method cannot run on a dataset by declaration (e.g. the oracle on data without ground truth)."""


class ResultWriteError(Exception):
    """A result file could not be written (disk full, read-only filesystem): the run stops, loudly.

    ``featbench run`` exits with status 3 and one line naming the file and the reason.
    """
