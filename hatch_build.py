"""Hatch build hook: ship the committed baselines (``leaderboards/<profile>/baseline/``) inside the wheel.

Each existing folder becomes ``bench_core/_baselines/<profile>/``, found at run time by
:func:`bench_core.baselines.packaged_dir`. A hook rather than a fixed ``force-include`` table, so that a
profile whose board has no baseline folder yet neither breaks the build nor needs an edit here.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


def baseline_folders(root: Path) -> dict[str, str]:
    """``{source folder: path inside the wheel}`` for every ``leaderboards/<profile>/baseline`` folder."""
    return {str(folder): f"bench_core/_baselines/{folder.parent.name}"
            for folder in sorted(Path(root, "leaderboards").glob("*/baseline")) if folder.is_dir()}


class BaselinesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name == "wheel":
            build_data.setdefault("force_include", {}).update(baseline_folders(Path(self.root)))
