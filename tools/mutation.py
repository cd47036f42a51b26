"""Mutation testing of the modules that compute published numbers (``make mutation``; not run by CI).

For each module below, mutmut (PyPI, dev-only: ``pip install -e '.[mutation]'``) applies one mutation at a
time and runs the module's fast tests against it; a mutant is *killed* when a test fails. Each module runs
in its own scratch copy of the tracked tree (``.mutation/<name>/``, git-ignored) with its own mutmut
configuration, so the modules never see each other's mutants. The table printed at the end is the share of
mutants killed; ``mutmut results`` inside a scratch copy lists the survivors (``mutmut show NAME`` shows one).

Usage: ``python tools/mutation.py [NAME ...] [--max-children N]`` (names from :data:`MODULES`; all by default).
The emitters of the leaderboard (plots, HTML) are excluded with ``# pragma: no mutate`` blocks: they publish
pictures of numbers computed and tested elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The functions of the leaderboard that decide ranks and statistics (``--core``): the rest formats them.
CORE = {"leaderboard": ["*x__overall_ranks__*", "*x__overall__*", "*x__friedman__*", "*x__uninformative__*",
                        "*x_paired_p__*", "*x_critical_difference__*", "*x_mean_ci__*", "*x__planned_seeds__*",
                        "*x__groups__*"]}

#: name -> (module, its fast test files)
MODULES: dict[str, tuple[str, list[str]]] = {
    "selection": ("bench_core/metrics/selection.py", ["tests/test_metrics_selection.py"]),
    "leaderboard": ("bench_core/leaderboard.py", ["tests/test_leaderboard_compare.py", "tests/test_leaderboard_trust.py"]),
    "compare": ("bench_core/compare.py", ["tests/test_leaderboard_compare.py", "tests/test_leaderboard_trust.py"]),
    "store": ("bench_core/store.py", ["tests/test_store.py"]),
    "selectors": ("bench_core/tracks/selectors.py", ["tests/test_selectors_protocol.py"]),
}


# mutmut's command line, without the installed tree on sys.path: an editable install of featbench puts the
# repository there, and the tests would import the unmutated bench_core from it.
_LAUNCH = (
    "import sys; from pathlib import Path; "
    f"sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path({str(REPO)!r})]; "
    "sys.argv = ['mutmut', *sys.argv[1:]]; "
    "from mutmut.__main__ import cli; cli()"
)


def scratch_copy(name: str) -> Path:
    dest = REPO / ".mutation" / name
    if dest.exists():
        shutil.rmtree(dest)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file() and not f.startswith(".mutation/"):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def configure(dest: Path, module: str, tests: list[str]) -> None:
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text()
    block = ["", "[tool.mutmut]", 'source_paths = ["."]', f'only_mutate = ["{module}"]',
             "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{t}"' for t in tests) + "]",
             'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "pytest_benchmark.plugin", "-q", "-x"]']
    pyproject.write_text(text + "\n".join(block) + "\n")


def stats(dest: Path) -> dict[str, int]:
    subprocess.run([sys.executable, "-c", _LAUNCH, "export-cicd-stats"], cwd=dest, check=False, capture_output=True)
    path = dest / "mutants" / "mutmut-cicd-stats.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=[], help=f"modules to mutate: {', '.join(MODULES)} (default: all)")
    ap.add_argument("--max-children", type=int, default=1)
    ap.add_argument("--core", action="store_true", help="only the functions in CORE (where a module has them)")
    args = ap.parse_args(argv)
    names = args.names or list(MODULES)
    bad = [n for n in names if n not in MODULES]
    if bad:
        print(f"mutation.py: error: unknown module {bad[0]!r} (valid: {', '.join(MODULES)})", file=sys.stderr)
        return 2
    table = []
    for name in names:
        module, tests = MODULES[name]
        dest = scratch_copy(name)
        configure(dest, module, tests)
        # no plugin autoload: the featbench pytest plugin (an entry point) would import bench_core from the
        # installed tree before mutmut puts the mutated copy first on sys.path
        env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        print(f"== {name}: mutating {module} against {' '.join(tests)}", flush=True)
        only = CORE.get(name, []) if args.core else []
        subprocess.run([sys.executable, "-c", _LAUNCH, "run", "--max-children", str(args.max_children), *only],
                       cwd=dest, env=env, check=False)
        s = stats(dest)
        killed, survived = s.get("killed", 0), s.get("survived", 0)
        other = {k: v for k, v in s.items() if k not in ("killed", "survived", "total") and v}
        total = killed + survived
        table.append((name, module, killed, survived, other, killed / total if total else float("nan")))
    print("\n| module | killed | survived | other | score |\n|---|---|---|---|---|")
    for name, module, k, sv, other, score in table:
        print(f"| `{module}` | {k} | {sv} | {other or ''} | {score:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
