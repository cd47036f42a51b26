"""Mutation testing of the modules that compute published numbers (``make mutation``; not run by CI).

For each module below, mutmut (PyPI, dev-only: ``pip install -e '.[mutation]'``) applies one mutation at a
time and runs the module's fast tests against it; a mutant is *killed* when a test fails. Each module runs
in its own scratch copy of the tracked tree (``.mutation/<name>[-core][-tables]/``, git-ignored) with its own mutmut
configuration, so the modules never see each other's mutants. The table printed at the end is the share of
mutants killed; ``mutmut results`` inside a scratch copy lists the survivors (``mutmut show NAME`` shows one).

Usage: ``python tools/mutation.py [NAME ...] [--core] [--tables] [--rerun] [--max-children N]`` (names from
:data:`MODULES`; all by default). ``--rerun`` re-tests only the survivors of the last run, with the current tests
(and test files: where a module's list in :data:`MODULES` changed, mutmut resets every verdict, and the earlier
kills are put back, since a mutant that a test kills stays killed when tests are only added).
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
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The functions of the leaderboard that decide ranks and statistics (``--core``): the rest formats them.
CORE = {"leaderboard": ["*x__overall_ranks__*", "*x__overall__*", "*x__friedman__*", "*x__uninformative__*",
                        "*x_paired_p__*", "*x_critical_difference__*", "*x_mean_ci__*", "*x__planned_seeds__*",
                        "*x__groups__*"]}

#: The functions of the leaderboard that turn records into the published tables (``--tables``): which records
#: count (stale or current), the cells' numbers, and the JSON/CSV they are written as. Markdown, HTML and plots
#: only format these (the Markdown of the numbers is checked by golden tests, but not mutated here).
TABLES = {"leaderboard": ["*x_partition__*", "*x_build__*", "*x__build_track__*", "*x__newest__*",
                          "*x__params_json__*", "*x__r__*", "*xǁCellǁas_json__*", "*x_track_json__*",
                          "*x_track_csv__*", "*x__provenance__*", "*x__span__*"]}

#: name -> (module, its fast test files)
MODULES: dict[str, tuple[str, list[str]]] = {
    "selection": ("bench_core/metrics/selection.py", ["tests/test_metrics_selection.py"]),
    "leaderboard": ("bench_core/leaderboard.py", ["tests/test_leaderboard_compare.py", "tests/test_leaderboard_trust.py",
                                                  "tests/test_leaderboard_tables.py"]),
    "compare": ("bench_core/compare.py", ["tests/test_leaderboard_compare.py", "tests/test_leaderboard_trust.py",
                                          "tests/test_baselines.py", "tests/test_devices.py",
                                          "tests/test_compare_golden.py"]),
    "store": ("bench_core/store.py", ["tests/test_store.py"]),
    "selectors": ("bench_core/tracks/selectors.py", ["tests/test_selectors_protocol.py"]),
    "sae_metrics": ("bench_core/metrics/sae.py", ["tests/test_metrics_sae.py"]),
}

#: Tests of those files left out of the mutation runs: end-to-end ones (a CLI subprocess, real evaluator fits
#: over whole datasets) that take 5-30 s each, against a few seconds for all the others together. A surviving
#: mutant reruns every test that covers its function, so they would make a run hours long; the numbers they
#: check are checked by the fast golden tests too.
SLOW = [
    "tests/test_leaderboard_compare.py::test_cli_compare_exits_nonzero_on_regression",
    "tests/test_leaderboard_trust.py::test_a_selection_scores_the_same_in_any_order_fresh_or_cached",
    "tests/test_leaderboard_trust.py::test_a_job_scores_bit_identically_fresh_and_after_other_jobs_in_the_same_worker",
    "tests/test_devices.py::test_local_executor_cpu_workers_see_no_gpu_and_gpu_workers_each_their_own",
]

#: Equivalent mutants (no test can tell them from the original: same output on every input), by mutmut's
#: name, with the reason. They are left out of the score: killed / (killed + survived + timed out - equivalent).
EQUIVALENT: dict[str, dict[str, str]] = {
    "sae_metrics": {
        **{f"bench_core.metrics.sae.{f}": "float('NAN') is float('nan')" for f in (
            "x_mean_max_decoder_cosine__mutmut_8", "xǁSAEEvaluatorǁresult__mutmut_23",
            "xǁSAEEvaluatorǁresult__mutmut_33", "xǁSAEEvaluatorǁresult__mutmut_41",
            "xǁSAEEvaluatorǁresult__mutmut_69", "xǁSAEEvaluatorǁresult__mutmut_77",
            "xǁSAEEvaluatorǁresult__mutmut_87", "xǁSAEEvaluatorǁresult__mutmut_176")},
        **{f"bench_core.metrics.sae.xǁSAEEvaluatorǁresult__mutmut_{i}": "the errstate of the F1 block with "
           "other arguments: no division there can warn (the denominators are max(count, 1) and "
           "where(p + r > 0, p + r, 1))" for i in (92, 93, 94, 95)},
        **{f"bench_core.metrics.sae.xǁSAEEvaluatorǁresult__mutmut_{i}": "a count >= 0 for > 0 in the precision "
           "or recall: where the count is 0, both (fired together) is 0 too, so both / max(count, 1) is the "
           "0.0 of the other branch" for i in (107, 123)},
        **{f"bench_core.metrics.sae.xǁSAEEvaluatorǁresult__mutmut_{i}": "the F1 where p + r = 0 (p = r = 0): "
           "2pr / anything is 0, the 0.0 of the other branch (the 0/0 of 153 is silenced by errstate and "
           "discarded by the outer where)" for i in (140, 153, 156)},
        "bench_core.metrics.sae.xǁSAEEvaluatorǁupdate__mutmut_9": "sum_x -= for +=: the mean only enters as "
        "mean @ mean, which the sign does not change",
        "bench_core.metrics.sae.xǁSAEEvaluatorǁupdate__mutmut_134": "parent is not None or parent_latent for "
        "and: parent_latent is {} whenever parent is None, and a loop over an empty parent_latent adds nothing",
    },
    "leaderboard": {
        **{f"bench_core.leaderboard.x_paired_p__mutmut_{i}": "asarray without dtype=float64: its callers pass "
           "lists of floats (seed values), which become float64 arrays anyway" for i in (3, 5, 7, 9)},
        "bench_core.leaderboard.x_paired_p__mutmut_20": "diff == diff[1] instead of diff[0]: all equal to one "
        "element iff all equal to any (a.size >= 2 here)",
        **{f"bench_core.leaderboard.{f}": "rankdata without method='average': it is the default" for f in
           ("x__overall_ranks__mutmut_14", "x__friedman__mutmut_47")},
        "bench_core.leaderboard.x__friedman__mutmut_10": "ranked >= 0 for > 0 beside ranked == len(included): rows "
        "only hold variants applicable on an included dataset, so with none included there are no rows",
        **{f"bench_core.leaderboard.x__overall__mutmut_{i}": "the sort key of a row without a mean rank: such rows "
           "all sort last (first key), tied on the second key whatever it is, then by name" for i in (103, 109)},
        "bench_core.leaderboard.x__build_track__mutmut_1": "the default profile of _build_track: its one caller, "
        "build, always passes one",
        **{f"bench_core.leaderboard.x__build_track__mutmut_{i}": "groups.get(key, None) or groups.get(key) for groups.get(key, []): "
           "only tested for truth (if not group)" for i in (68, 70)},
        **{f"bench_core.leaderboard.x_mean_ci__mutmut_{i}": "asarray without dtype=float64: the values are numbers, "
           "and an empty list gives float64 anyway" for i in (4, 6)},
        "bench_core.leaderboard.x_partition__mutmut_1": "the default profile 'XXXX' for '': neither names a profile, "
        "so PROFILES.get gives None either way",
        "bench_core.leaderboard.x__build_track__mutmut_274": "rankdata without method='average': it is the default",
        "bench_core.leaderboard.x__build_track__mutmut_307": "1.0 for 0.0 as the second sort key of an unranked cell: "
        "the first key (rank is None) already puts every unranked cell after every ranked one, and among them the "
        "second key is the same constant either way",
        "bench_core.leaderboard.x__build_track__mutmut_305": "None for 0.0 as the second sort key of an unranked "
        "cell: it is only ever compared with another unranked cell's (the first key differs from every ranked "
        "one), None == None as 0.0 == 0.0, so the comparison goes on to the next key either way",
        **{f"bench_core.leaderboard.x_track_csv__mutmut_{i}": "'' if x is None else ... written as ... alone: x is "
           "None there (or _r gives None), and csv.writer writes None as an empty field, like ''"
           for i in (53, 57, 63, 78, 87)},
        **{f"bench_core.leaderboard.x__params_json__mutmut_{i}": "other JSON separators: _params_json's strings are "
           "only compared with each other (never printed or stored), and json.dumps with any of these separators "
           "still writes different parameter dicts as different strings" for i in (3, 7, 10, 11)},
    },
    "selectors": {
        "bench_core.tracks.selectors.x_validate_indices__mutmut_4": "dtype kinds 'i' and 'u' are in 'XXiuXX' too, "
        "and 'X' is no dtype kind",
        "bench_core.tracks.selectors.x_validate_indices__mutmut_18": "whole floats kept as float64 instead of int64: "
        "the checks read the same, and the return converts to int64",
        "bench_core.tracks.selectors.xǁSelectorsTrackǁrun__mutmut_118": "a rank() method's k_times is empty, so "
        "k_times.get(k_stab, fit_time) is its fit_time too",
        "bench_core.tracks.selectors.xǁSelectorsTrackǁ_recovery__mutmut_57": "float('NAN') is float('nan')",
        "bench_core.tracks.selectors.x_validate_scores__mutmut_4": "dtype kinds 'f', 'i', 'u', 'b' are in "
        "'XXfiubXX' too, and 'X' is no dtype kind",
        "bench_core.tracks.selectors.x_validate_scores__mutmut_10": "astype(None) is astype(float64)",
        "bench_core.tracks.selectors.x_k_list__mutmut_7": "a grid k equal to d kept at first is dropped by the final "
        "1 <= k < d filter",
        "bench_core.tracks.selectors.x_make_evaluator__mutmut_10": "C=1.0 dropped: scikit-learn's default C is 1.0",
        "bench_core.tracks.selectors.x_make_evaluator__mutmut_19": "n_estimators=50 dropped: ExtraTrees' default "
        "is 50",
        **{f"bench_core.tracks.selectors.x_evaluate_subset__mutmut_{i}": "asarray of a tuple of ints without "
           "dtype=int64: int64 anyway (an empty set, the one difference, is never evaluated: k >= 1)"
           for i in (11, 13)},
        "bench_core.tracks.selectors.x__stratified_subsample__mutmut_18": "replace=None: tested for truth, like "
        "False",
        "bench_core.tracks.selectors.xǁSelectorsTrackǁ_stability__mutmut_24": ">= for > on elapsed time against "
        "the budget: equal to the last bit is not something a test can arrange",
        "bench_core.tracks.selectors.xǁSelectorsTrackǁ_stability__mutmut_44": "integers(2**31) is integers(0, "
        "2**31): the same draw",
    },
    "compare": {
        **{f"bench_core.compare.x_compare__mutmut_{i}": "the verdict a Row starts with ('unchanged'): every branch "
           "of the if/elif chain that follows assigns row.verdict" for i in (117, 122, 123)},
        "bench_core.compare.x_compare__mutmut_247": "max(2, c.n_done) for max(1, c.n_done) in the standard error: "
        "they differ only at c.n_done == 1 (0 never gets there: such a cell is failed), where the fresh cell holds "
        "at most one primary value, so its sd is 0.0 (mean_ci of one value) and 0/1 == 0/2",
        "bench_core.compare.x__baseline_devices__mutmut_17": "{'cpu': 2} for {'cpu': 1} as the default device "
        "counts: only which kinds have a non-zero count is read",
        "bench_core.compare.x_load_baseline__mutmut_14": "'UTF-8' for 'utf-8': the same codec",
        "bench_core.compare.x_load_baseline__mutmut_12": "no explicit encoding: the locale's, which Python makes "
        "UTF-8 on the C/POSIX locale (PEP 538/540) and which is UTF-8 on every locale here and on CI; it would "
        "differ only on a non-UTF-8 locale (none installed to test on)",
        "bench_core.compare.x_load_baselines__mutmut_59": "reading <profile>/baseline/ even where it is no folder: "
        "load_records globs it, and pathlib's glob of a path that is not a directory yields nothing, so the "
        "records are [] either way",
        **{f"bench_core.compare.x__standing__mutmut_{i}": "another 'origin' key or value on the baseline records "
           "merged without a registry: the mark only labels rows and provenance (Cell.baseline, the overall row's "
           "'baseline', provenance.baseline_results); the position, table size, mean rank and count that "
           "_standing returns never read it" for i in (27, 28, 29, 30)},
    },
    "store": {
        "bench_core.store.x_usable_directory__mutmut_7": "return instead of break where a path is its own parent "
        "('/' or '.') and does not exist: '/' and '.' always exist",
        "bench_core.store.x_usable_directory__mutmut_19": "the probe file's mode (0o600 or the default): it is "
        "removed at once, unread",
        "bench_core.store.x_usable_directory__mutmut_22": "mode 385 (0o601) instead of 0o600 for the probe file: "
        "it is removed at once, unread",
        **{f"bench_core.store.{f}__mutmut_{i}": "'UTF-8' for 'utf-8': the same codec" for f, i in
           (("x_atomic_write_text", 18), ("xǁStoreǁ_load", 6))},
        **{f"bench_core.store.{f}__mutmut_{i}": "no explicit encoding: the locale's, which Python makes UTF-8 on "
           "the C/POSIX locale (PEP 538/540) and which is UTF-8 on every locale here and on CI; it would differ "
           "only on a non-UTF-8 locale (none installed to test on)" for f, i in
           (("x_atomic_write_text", 11), ("x_atomic_write_text", 14), ("xǁStoreǁ_load", 2), ("xǁStoreǁ_load", 4))},
        "bench_core.store.x_records_frame__mutmut_52": "'if error' dropped: (None or {}).get('message') is None too",
        **{f"bench_core.store.x_records_frame__mutmut_{i}": "the score row of a job without scores under another "
           "key: the DataFrame's fixed columns give score and value NaN anyway" for i in (70, 71, 72, 73)},
        **{f"bench_core.store.x_records_frame__mutmut_{i}": "float('NAN') is float('nan')" for i in (76, 86)},
        **{f"bench_core.store.xǁStoreǁclean_stale_temporaries__mutmut_{i}": "rsplit('.') with another maxsplit: "
           "the second-to-last part is the pid either way" for i in (13, 16)},
        "bench_core.store.xǁStoreǁwrite__mutmut_14": "allow_nan=None: json tests it for truth, like False",
    },
}


# mutmut's command line, without the installed tree on sys.path: an editable install of featbench puts the
# repository there, and the tests would import the unmutated bench_core from it.
_LAUNCH = (
    "import sys; from pathlib import Path; "
    f"sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path({str(REPO)!r})]; "
    "sys.argv = ['mutmut', *sys.argv[1:]]; "
    "from mutmut.__main__ import cli; cli()"
)


def scratch_copy(dest: Path) -> Path:
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


def configure(dest: Path, module: str, tests: list[str]) -> bool:
    """Write the scratch copy's ``[tool.mutmut]`` block (in place of an earlier one); True when it changed."""
    pyproject = dest / "pyproject.toml"
    old = pyproject.read_text()
    text = old.split("\n[tool.mutmut]\n")[0]
    block = ["", "[tool.mutmut]", 'source_paths = ["."]', f'only_mutate = ["{module}"]',
             "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{t}"' for t in tests) + "]",
             'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "pytest_benchmark.plugin", "-q", "-x"'
             + "".join(f', "--deselect", "{t}"' for t in SLOW if t.split("::")[0] in tests) + "]"]
    new = text + "\n".join(block) + "\n"
    pyproject.write_text(new)
    return new != old


def killed_codes(dest: Path, module: str) -> dict[str, int]:
    """mutmut's exit code of each killed mutant of ``module`` in a scratch copy."""
    meta = dest / "mutants" / (module + ".meta")
    codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
    return {k: c for k, c in codes.items() if _STATUS.get(c) == "killed"}


def restore_kills(dest: Path, module: str, kills: dict[str, int]) -> None:
    """Put back the kills of an earlier run where mutmut reset them (a change of its test selection resets every
    verdict). A mutant killed by a test selection stays killed when tests are only added."""
    meta = dest / "mutants" / (module + ".meta")
    data = json.loads(meta.read_text())
    codes = data["exit_code_by_key"]
    for k, c in kills.items():
        if k in codes and codes[k] is None:
            codes[k] = c
    meta.write_text(json.dumps(data, indent=4))


def results(dest: Path, module: str, only: list[str]) -> dict[str, str]:
    """mutmut's verdict per mutant of ``module`` (restricted to the function patterns ``only``, if any)."""
    from fnmatch import fnmatch

    meta = dest / "mutants" / (module + ".meta")
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    out = {}
    for key, code in codes.items():
        if only and not any(fnmatch(key, pat) for pat in only):
            continue
        out[key] = _STATUS.get(code, "suspicious")
    return out


# mutmut's exit codes (mutmut.stats.status_by_exit_code). A timeout is not counted as killed: on a loaded machine
# a surviving mutant's full test run can overrun mutmut's limit (15 × the measured test time), so it counts as a
# survivor until a re-run (``--rerun`` re-tests survivors and timeouts) decides it. A function no test reaches
# counts as survived.
_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "survived", 33: "survived", 36: "timeout", 24: "timeout",
           -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked", 34: "skipped",
           37: "caught by type check"}


def score(verdicts: dict[str, str], equivalent: dict[str, str]) -> tuple[int, int, list[str], list[str], float]:
    """(killed, total, equivalent survivors, other survivors, score); equivalents are out of the total."""
    killed = sum(v == "killed" for v in verdicts.values())
    survivors = sorted(k for k, v in verdicts.items() if v in ("survived", "timeout"))
    equiv = [k for k in survivors if k in equivalent]
    rest = [k for k in survivors if k not in equivalent]
    total = killed + len(rest)
    return killed, total, equiv, rest, killed / total if total else float("nan")


def refresh_tests(dest: Path) -> None:
    """Copy the working tree's tests into an existing scratch copy (and mutmut's copy in it), for --rerun."""
    for f in (REPO / "tests").rglob("*.py"):
        rel = f.relative_to(REPO)
        for base in (dest, dest / "mutants"):
            if base.exists():
                (base / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, base / rel)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=[], help=f"modules to mutate: {', '.join(MODULES)} (default: all)")
    ap.add_argument("--max-children", type=int, default=1)
    ap.add_argument("--core", action="store_true", help="only the functions in CORE (where a module has them)")
    ap.add_argument("--tables", action="store_true", help="only the functions in TABLES (where a module has them)")
    ap.add_argument("--rerun", action="store_true",
                    help="keep the scratch copy, refresh its tests and re-test only the surviving mutants")
    args = ap.parse_args(argv)
    names = args.names or list(MODULES)
    bad = [n for n in names if n not in MODULES]
    if bad:
        print(f"mutation.py: error: unknown module {bad[0]!r} (valid: {', '.join(MODULES)})", file=sys.stderr)
        return 2
    table = []
    for name in names:
        module, tests = MODULES[name]
        only = (CORE.get(name, []) if args.core else []) + (TABLES.get(name, []) if args.tables else [])
        part = " + ".join(w for w, on in (("core", args.core and name in CORE),
                                           ("tables", args.tables and name in TABLES)) if on)
        # one scratch copy per selection, so that a run of the tables keeps the results of the core
        dest = REPO / ".mutation" / "-".join([name, *part.split(" + ")] if part else [name])
        # no plugin autoload: the featbench pytest plugin (an entry point) would import bench_core from the
        # installed tree before mutmut puts the mutated copy first on sys.path
        env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        if args.rerun and dest.exists():
            refresh_tests(dest)
            # "not checked": reset by an earlier rerun that stopped before testing them
            targets = [k for k, v in results(dest, module, only).items()
                       if v in ("survived", "timeout", "not checked")]
            kills = killed_codes(dest, module)
            if configure(dest, module, tests):  # a test file added to MODULES since the last run
                print(f"== {name}: test files changed; the {len(kills)} earlier kills are kept", flush=True)
            else:
                kills = {}
            print(f"== {name}: re-testing {len(targets)} surviving mutants of {module}", flush=True)
        else:
            dest = scratch_copy(dest)
            configure(dest, module, tests)
            targets = only
            print(f"== {name}: mutating {module} against {' '.join(tests)}", flush=True)
            kills = {}
        if targets or not args.rerun:
            subprocess.run([sys.executable, "-c", _LAUNCH, "run", "--max-children", str(args.max_children),
                            *targets], cwd=dest, env=env, check=False)
        if kills:
            restore_kills(dest, module, kills)
        verdicts = results(dest, module, only)
        killed, total, equiv, rest, sc = score(verdicts, EQUIVALENT.get(name, {}))
        other = dict(sorted(Counter(v for v in verdicts.values()
                                    if v not in ("killed", "survived")).items()))
        table.append((name, module + (f" ({part})" if part else ""), killed, total, len(equiv), other, sc))
        if rest:
            print(f"{name}: {len(rest)} surviving mutants (`mutmut show NAME` in {dest}):")
            print("\n".join(f"  {k}" for k in rest))
    print("\n| module | killed / total | score | equivalent (left out) | not run |\n|---|---|---|---|---|")
    for name, module, k, tot, neq, other, sc in table:
        print(f"| `{module}` | {k} / {tot} | {sc:.0%} | {neq} | {other or ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
