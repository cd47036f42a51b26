"""The CLI's author-loop commands and options, kept out of :mod:`bench_core.cli` (which calls in here):

- ``featbench errors``: the failed jobs of a results directory, with their keys and one-line reasons;
- ``featbench show KEY``: one stored result with its full traceback and captured log tail (a unique key
  prefix is enough; an unknown or ambiguous key is one line, exit status 2);
- ``featbench completion SHELL``: the shell code that activates tab completion (argcomplete);
- ``featbench datasets download [NAMES]`` and ``featbench datasets list --json``;
- ``run --dry-run`` (the job plan, nothing written) and ``run --strict`` (exit status 1 when a job failed);
- "did you mean" first in argparse's own invalid-choice errors (subcommands, ``--profile``).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from bench_core.errors import UsageError

#: Jobs listed by ``run --dry-run`` before "and N more".
DRY_RUN_JOBS = 20
SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")

_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)$")


def with_hint(message: str) -> str:
    """argparse's ``invalid choice: 'x' (choose from ...)`` with ``; did you mean 'y'?`` before the list."""
    m = _INVALID_CHOICE.search(message)
    if not m:
        return message
    from bench_core.registry import did_you_mean

    choices = re.findall(r"'([^']*)'", m.group("choices")) or [c.strip() for c in m.group("choices").split(",")]
    hint = did_you_mean(m.group("value"), choices)
    if not hint:
        return message
    return message[:m.start()] + f"invalid choice: {m.group('value')!r}{hint} (choose from {m.group('choices')})"


# ------------------------------------------------------------------------------------------------- parsers


def add_run_options(run) -> None:
    run.add_argument("--dry-run", action="store_true",
                     help="print the job plan (counts per track, method and dataset, and the first jobs); "
                          "run nothing, write nothing")
    run.add_argument("--strict", action="store_true",
                     help="exit status 1 when any job ended error, invalid, timeout, oom or crashed (for CI)")


def add_dataset_actions(dsub, dl) -> None:
    dl.add_argument("--json", action="store_true", help="machine-readable output")
    dd = dsub.add_parser("download", help="fetch external data files from their cards' URLs and verify them")
    dd.add_argument("names", nargs="*", help="datasets (default: every card with an external file)")
    dd.add_argument("--track")
    dd.add_argument("--data-dir", help="where to put them (default: $FEATBENCH_DATA_DIR)")


def add_parsers(sub, profiles) -> None:
    er = sub.add_parser("errors", help="list failed jobs (error, invalid, timeout, oom, crashed) with their reason")
    er.add_argument("--track", action="append", help="only this track (repeatable; globs allowed)")
    er.add_argument("--method", action="append", help="method name(s) or glob(s), comma-separated or repeated")
    er.add_argument("--dataset", action="append", help="dataset name(s) or glob(s)")
    er.add_argument("--profile", choices=list(profiles), help="only this profile (default: every profile)")
    er.add_argument("--results", help="results directory (default: <cache>/results)")
    er.add_argument("--json", action="store_true", help="machine-readable output (full error texts)")

    sh = sub.add_parser("show", help="print one stored result: scores, the full traceback, the captured log")
    sh.add_argument("key", help="a job key or a unique prefix of one (as `featbench errors` prints)")
    sh.add_argument("--results", help="results directory (default: <cache>/results)")
    sh.add_argument("--json", action="store_true", help="print the result file as stored")

    co = sub.add_parser("completion", help="print the shell code that enables tab completion")
    co.add_argument("shell", choices=SHELLS, help="your shell")


# ------------------------------------------------------------------------------------------------ commands


def _store(results):
    from bench_core.execute.run import default_results_dir
    from bench_core.store import Store

    return Store(Path(results).expanduser() if results else default_results_dir())


def cmd_errors(args, registry) -> int:
    from bench_core.cli import _names
    from bench_core.failures import ERROR_HEADERS, error_rows, failed_records

    store = _store(args.results)
    if not store.root.is_dir():
        raise UsageError(f"results directory {store.root} does not exist (--results, or run `featbench run` first)")
    records = failed_records(store.iter_records(), tracks=_names(args.track, "--track"),
                             methods=_names(args.method, "--method"), datasets=_names(args.dataset, "--dataset"),
                             profile=args.profile)
    store.warn_damaged("not read")
    if args.json:
        print(json.dumps([{"key": r.get("key"), "status": r.get("status"), "track": r.get("track"),
                           "method": r.get("method"), "variant": r.get("variant"), "dataset": r.get("dataset"),
                           "seed": r.get("seed"), "profile": r.get("profile"), "error": r.get("error")}
                          for r in records], indent=1))
        return 0
    if not records:
        print(f"no failed jobs under {store.root}", file=sys.stderr)
        return 0
    from tabulate import tabulate

    print(tabulate(error_rows(records), headers=ERROR_HEADERS))
    print(f"\n{len(records)} failed job(s); `featbench show KEY` prints one with its traceback", file=sys.stderr)
    return 0


def cmd_show(args, registry) -> int:
    from bench_core.failures import find_record, render_record

    path, rec = find_record(_store(args.results).root, args.key)
    print(json.dumps(rec, indent=1, sort_keys=True) if args.json else render_record(path, rec))
    return 0


def cmd_completion(args, registry) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["featbench"], shell=args.shell))
    return 0


def datasets_list_json(cards, root) -> int:
    from bench_core.data.dataset import missing_reason

    out = []
    for c in cards:
        missing = missing_reason(c, root)
        out.append({"name": c.name, "title": c.title, "tracks": list(c.tracks), "tier": c.tier, "task": c.task,
                    "source": {"loader": c.source.loader, "file": c.source.file, "url": c.source.url,
                               "sha256": c.source.sha256},
                    "available": missing is None, "missing_reason": missing})
    print(json.dumps(out, indent=1))
    return 0


def datasets_download(args, registry, cards, root) -> int:
    from bench_core.data.download import download_cards

    selected = [registry.card(n) for n in args.names] if args.names else [c for c in cards if c.source.is_file]
    not_external = [c.name for c in selected if not c.source.is_file]
    if not_external:
        raise UsageError(f"dataset {not_external[0]!r} has no external file (its data comes from a loader); "
                         f"nothing to download")
    if not selected:
        print("no dataset card names an external file; nothing to download", file=sys.stderr)
        return 0
    outcomes = download_cards(selected, root, log=lambda s: print(s, file=sys.stderr))
    got = sum(o.action == "downloaded" for o in outcomes)
    print(f"datasets download: {got} downloaded, {len(outcomes) - got} already present; all verified against "
          f"their cards' SHA-256 in {root}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------------- run


def print_dry_run(plan, stream=None) -> int:
    """The job plan of ``run --dry-run``: totals, counts per track/method/dataset, the first jobs."""
    stream = stream or sys.stdout
    pending = plan.pending
    skipped = {s.key: r for s, r in plan.skipped}
    print(f"dry run (profile {plan.profile}): {len(plan.specs)} job(s): {len(pending)} would run, {plan.cached} "
          f"already done, {len(skipped)} would be skipped, {len(plan.not_applicable)} method/dataset pair(s) "
          f"not applicable; nothing was run or written", file=stream)
    todo = [*pending, *(s for s, _r in plan.skipped)]
    for what, keyf in (("track", lambda s: s.track), ("method", lambda s: f"{s.track}/{s.variant}"),
                       ("dataset", lambda s: f"{s.track}/{s.dataset}")):
        counts = Counter(keyf(s) for s in todo)
        if counts:
            print(f"\nper {what}: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())), file=stream)
    if todo:
        print(f"\nfirst jobs (of {len(todo)}):", file=stream)
        order = sorted(todo, key=lambda s: (s.seed, s.track, s.dataset, s.method, s.variant))
        for s in order[:DRY_RUN_JOBS]:
            note = f"  [skipped: {skipped[s.key]}]" if s.key in skipped else ""
            print(f"  {s.key[:12]}  {s.track}/{s.dataset}/{s.variant}/seed{s.seed}{note}", file=stream)
        if len(order) > DRY_RUN_JOBS:
            print(f"  and {len(order) - DRY_RUN_JOBS} more", file=stream)
    return 0


def after_run(plan, store, counts, strict: bool, stream=None) -> int:
    """Name the failed (method, dataset) pairs of this run; the exit status (1 under ``--strict`` if any)."""
    from bench_core.failures import FAILED, summary_lines

    stream = stream or sys.stderr
    if not any(counts.get(s) for s in FAILED):
        return 0
    records = []
    for spec in plan.pending:
        rec = store.read(store.path_for(spec.track, spec.dataset, spec.method, spec.key))
        if rec:
            records.append(rec)
    for line in summary_lines(records):
        print(line, file=stream)
    return 1 if strict else 0
