# PYTHON_ARGCOMPLETE_OK  (argcomplete completes the `featbench` console script; see `featbench completion`)
"""``featbench``: list, run, errors, show, leaderboard, compare, check, datasets, status, completion.

Exit status: 0 on success; 1 when ``compare`` finds a regression or ``check`` a failing check or
``datasets verify`` a mismatch, or when ``run --strict`` had a job end ``error``, ``invalid``, ``timeout``,
``oom`` or ``crashed``; 2 on bad input (unknown name, malformed card, bad option, checksum mismatch,
an unusable results, cache or data directory), with a one-line error on stderr and nothing written; 3 when
a run stops because a result could not be stored (disk full, read-only filesystem), with one line naming
the file and the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from bench_core.errors import PluginError, ResultWriteError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2 (argparse prints usage first by default)
        from bench_core.cli_extra import with_hint

        raise UsageError(with_hint(message))


def _names(values: Sequence[str] | None, option: str = "") -> list[str] | None:
    """Comma-separated or repeated names; ``None`` when the option is absent. An empty name (``--method ""``,
    ``--method ","``, ``a,,b``) is bad input, never "everything"."""
    if values is None:
        return None
    from bench_core.execute.selection import split_items

    out: list[str] = []
    for v in values:
        parts = split_items(v)  # commas inside brackets (method[p=1,q=2]) belong to the item
        if not v.strip() or any(not p for p in parts):
            raise UsageError(f"{option or 'a name list'} got an empty name in {v!r}; give one or more names, "
                             f"comma-separated (omit the option to select every one)")
        out.extend(parts)
    return out


def _positive_float(text: str) -> float:
    """A finite number > 0 (``nan`` would switch a limit off: every comparison with it is false)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite positive number, not {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite positive number, not {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from bench_core.profiles import PROFILES

    p = _Parser(prog="featbench", description="A plugin-based benchmark of feature methods.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    sub.required = True

    ls = sub.add_parser("list", help="plugins, methods, datasets and executors")
    ls.add_argument("--track", action="append", help="only this track (repeatable)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    run = sub.add_parser("run", help="run methods on datasets and store one result file per job")
    run.add_argument("--track", action="append", help="track(s) to run (default: every track with a protocol)")
    run.add_argument("--method", action="append", help="method name(s), comma-separated or repeated")
    run.add_argument("--dataset", action="append", help="dataset name(s), comma-separated or repeated")
    run.add_argument("--profile", default="quick", choices=list(PROFILES), help="size of the run (default: quick)")
    run.add_argument("--seeds", help="a count (3 = seeds 0,1,2) or a list (0,4); default: the profile's")
    run.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default: 1)")
    run.add_argument("--executor", default="local", help="executor (default: local; see featbench list)")
    run.add_argument("--executor-opt", action="append", metavar="KEY=VALUE",
                     help="an executor option, e.g. partition=gpu or max_running=4 for slurm (repeatable)")
    run.add_argument("--executor-config", metavar="FILE",
                     help="executor options from a TOML file (a [slurm] table); --executor-opt wins")
    run.add_argument("--detach", action="store_true",
                     help="slurm: submit and return at once; `featbench status` shows progress")
    run.add_argument("--device", default="auto",
                     help="auto (per job: CUDA only where it is measured to be faster; see README, Devices), "
                          "cpu, cuda, cuda:N")
    run.add_argument("--gpu-workers", type=int,
                     help="workers that may use a GPU, within -j (default: one per GPU; every worker with --device cuda)")
    run.add_argument("--threads", type=int, help="BLAS/torch threads per worker (default: cores / jobs)")
    run.add_argument("--timeout", type=_positive_float,
                     help="time limit of one step of a job (a fit, the evaluation, a refit) in seconds "
                          "(default: the method's hint, else the profile's)")
    run.add_argument("--job-timeout", type=_positive_float,
                     help="time limit of a whole job in seconds (default: the profile's, if any)")
    run.add_argument("--memory-cap", type=_positive_float, help="per-job memory cap in MiB")
    run.add_argument("--results", help="results directory (default: <cache>/results)")
    run.add_argument("--data-dir", help="external data directory (default: $FEATBENCH_DATA_DIR)")
    run.add_argument("--cache-dir", help="cache directory (default: $FEATBENCH_CACHE_DIR or ~/.cache/featbench)")
    run.add_argument("--force", action="store_true", help="re-run jobs that already have a done result")
    run.add_argument("--sandbox", default="none", choices=["none", "landlock"],
                     help="landlock: deny the method process the cache, data and results directories "
                          "(Linux with Landlock; local executor; default: none)")
    run.add_argument("--no-progress", action="store_true", help="no progress display")
    from bench_core.cli_extra import add_dataset_actions, add_parsers, add_run_options

    add_run_options(run)

    lb = sub.add_parser("leaderboard", help="build leaderboard tables from stored results")
    lb.add_argument("--results", help="results directory (default: <cache>/results)")
    lb.add_argument("--profile", default="quick", choices=list(PROFILES))
    lb.add_argument("--track", action="append", help="only this track")
    lb.add_argument("--out", help="output directory (default: <cache>/leaderboards/<profile>)")
    lb.add_argument("--format", default="md,csv,json,html", help="comma-separated: md, csv, json, html")
    lb.add_argument("--print", action="store_true", help="also print the Markdown to stdout")
    lb.add_argument("--prune-stale", action="store_true",
                    help="delete stale result files (older protocol, method version, parameters or data)")
    lb.add_argument("--no-baselines", action="store_true",
                    help="only your results: do not merge the packaged baseline cells (see bench_core/baselines.py)")
    lb.add_argument("--highlight", action="append", metavar="METHOD",
                    help="mark this method (or variant) in the HTML tables and plots (repeatable)")

    cmp = sub.add_parser("compare", help="compare fresh results with a committed leaderboard (for CI)")
    cmp.add_argument("--results", help="results directory (default: <cache>/results)")
    cmp.add_argument("--baseline", action="append",
                     help="'packaged' (the baselines shipped with featbench, the default) or a folder holding "
                          "<profile>/<track>.json leaderboards; repeatable, later ones override earlier cells")
    cmp.add_argument("--profile", default="quick", choices=list(PROFILES))
    cmp.add_argument("--track", action="append", help="only this track")
    cmp.add_argument("--tolerance", type=float, default=0.01,
                     help="smallest change of the primary score that counts (default 0.01)")
    cmp.add_argument("--output", help="also write the Markdown report to this file")
    cmp.add_argument("--json", action="store_true", help="print the report as JSON instead of Markdown")

    chk = sub.add_parser("check", help="run the conformance checks on a method")
    chk.add_argument("name", help="method name")
    chk.add_argument("--track", help="track of the method (needed only if the name is ambiguous)")
    chk.add_argument("--json", action="store_true")

    ds = sub.add_parser("datasets", help="list or verify dataset cards")
    dsub = ds.add_subparsers(dest="action", parser_class=_Parser, metavar="ACTION")
    dsub.required = True
    dl = dsub.add_parser("list", help="every dataset card and whether its data is available")
    dl.add_argument("--track")
    dl.add_argument("--data-dir")
    add_dataset_actions(dsub, dl)
    dv = dsub.add_parser("verify", help="re-derive every checksum and run the leakage check")
    dv.add_argument("names", nargs="*", help="datasets (default: all)")
    dv.add_argument("--track")
    dv.add_argument("--data-dir")
    dv.add_argument("--write", action="store_true", help="write derived checksums into the cards (authoring)")

    st = sub.add_parser("status", help="pending, queued, running, done and failed jobs of a run, per track")
    st.add_argument("--track", action="append", help="track(s) (default: every track with a protocol)")
    st.add_argument("--method", action="append", help="method name(s)")
    st.add_argument("--dataset", action="append", help="dataset name(s)")
    st.add_argument("--profile", default="quick", choices=list(PROFILES))
    st.add_argument("--seeds", help="as for run")
    st.add_argument("--results", help="results directory (default: <cache>/results)")
    st.add_argument("--data-dir", help="external data directory (default: $FEATBENCH_DATA_DIR)")
    st.add_argument("--json", action="store_true", help="machine-readable output")

    npl = sub.add_parser("new-plugin", help="write a ready plugin package for one new method (a template)")
    npl.add_argument("name", help="method (and package) name: lowercase letters, digits, '_'")
    npl.add_argument("--track", required=True, help="the method's track")
    npl.add_argument("--dir", help="target folder, absent or empty (default: ./NAME)")

    sch = sub.add_parser("schema", help="print the JSON Schema of result files")
    sch.add_argument("--write", action="store_true", help="rewrite bench_core/schema/result.schema.json")
    add_parsers(sub, PROFILES)
    return p


# ------------------------------------------------------------------------------------------------ commands


def cmd_list(args, registry) -> int:
    tracks = _names(args.track, "--track") or list(registry.tracks)
    for t in tracks:
        registry.track(t)
    if args.json:
        out = {
            "plugins": [vars(p) for p in registry.plugins],
            "methods": {t: {n: {"version": e.obj.version, "plugin": e.plugin.name, "tags": e.obj.tags.as_dict(),
                                 "params": dict(e.obj.params), "unavailable": e.obj.unavailable()}
                            for n, e in sorted(registry.methods[t].items())}
                        for t in tracks},
            "datasets": {n: {"tracks": list(e.obj.tracks), "tier": e.obj.tier, "plugin": e.plugin.name}
                         for n, e in sorted(registry.cards.items())},
            "broken_cards": {p: r for p, (r, _i) in registry.card_errors.items()},
            "executors": sorted(registry.executors),
        }
        print(json.dumps(out, indent=1, default=str))
        return 0
    from tabulate import tabulate

    rows = []
    for p in registry.plugins:
        status = p.status if p.status != "broken" else f"broken: {p.reason}"
        rows.append([p.name, p.dist or "-", p.version or "-", p.module, status])
    print("Plugins\n" + tabulate(rows, headers=["plugin", "distribution", "version", "module", "status"]))
    for t in tracks:
        track = registry.tracks[t]
        rows, unavailable = [], []
        for n, e in sorted(registry.methods[t].items()):
            tg = e.obj.tags
            flags = ", ".join(f for f, on in (("supervised", tg.supervised), ("stochastic", tg.stochastic),
                                              ("gpu", tg.gpu_preferred)) if on)
            if tg.control:
                flags += f"{', ' if flags else ''}{tg.control} control"
            if tg.requires:
                flags += f"{', ' if flags else ''}needs {'+'.join(tg.requires)}"
            missing = e.obj.unavailable()
            if missing:
                unavailable.append(f"  {n}: unavailable: {missing}")
            rows.append([n + (" (unavailable)" if missing else ""), e.obj.version, e.plugin.name, flags,
                         e.obj.describe()[:70]])
        state = "" if track.ready else "  (contract only: no protocol yet)"
        print(f"\nTrack {t}{state}: {len(rows)} method(s)")
        if rows:
            print(tabulate(rows, headers=["method", "version", "plugin", "tags", "description"]))
        if unavailable:
            print("\n".join(unavailable))
        cards = registry.cards_for(t)
        if cards:
            from bench_core.data.dataset import data_dir, missing_reason

            root = data_dir()
            print(f"\nDatasets of {t}: " + ", ".join(
                f"{c.name}{'' if missing_reason(c, root) is None else ' (data missing)'}" for c in cards))
    for path, (reason, info) in sorted(registry.card_errors.items()):
        print(f"\nbroken dataset card: {reason}")
    print("\nExecutors: " + ", ".join(f"{n} ({e.obj.description})" for n, e in sorted(registry.executors.items())))
    return 0


def cmd_run(args, registry) -> int:
    from bench_core.execute.run import RunRequest, execute, plan_run, prepare_datasets, results_store
    from bench_core.progress import Progress

    req = RunRequest(
        tracks=_names(args.track, "--track"), methods=_names(args.method, "--method"), datasets=_names(args.dataset, "--dataset"),
        profile=args.profile, seeds=args.seeds, jobs=args.jobs, executor=args.executor, device=args.device,
        gpu_workers=args.gpu_workers,
        threads=args.threads, timeout_s=args.timeout, job_timeout_s=args.job_timeout, memory_cap_mb=args.memory_cap,
        results=args.results,
        data_dir=args.data_dir, cache_dir=args.cache_dir, force=args.force,
        executor_options=_executor_options(args), sandbox=args.sandbox,
    )
    store = results_store(req)
    plan = plan_run(registry, req, store)
    if args.dry_run:
        from bench_core.cli_extra import print_dry_run

        return print_dry_run(plan)
    prepare_datasets(registry, plan, req)
    print(f"featbench run --profile {plan.profile}: {len(plan.specs)} job(s): {len(plan.pending)} to run, "
          f"{plan.cached} already done, {len(plan.skipped)} skipped (data or dependency missing), "
          f"{len(plan.not_applicable)} method/dataset pair(s) not applicable", file=sys.stderr)
    for reason in sorted({r for _s, r in plan.skipped}):
        print(f"  skipped: {reason}", file=sys.stderr)
    store.warn_damaged("will be re-run (each is replaced by a fresh result)")
    for line in plan.source_warnings():
        print(line, file=sys.stderr)
    total = len(plan.pending) + len(plan.skipped)
    progress = Progress(total, enabled=not args.no_progress)
    progress.begin()
    try:
        with _terminate_as_interrupt() as terminated:
            counts = execute(registry, plan, req, store, progress)
    except KeyboardInterrupt:
        how = "terminated (SIGTERM)" if terminated else "interrupted"
        print(f"\n{how}: workers stopped; finished results are stored; run the same command again to resume",
              file=sys.stderr)
        return 143 if terminated else 130
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to run"
    if plan.elsewhere:
        summary += f"; {plan.elsewhere} left to another driver that had claimed them"
    print(f"results: {summary}; stored under {store.root}", file=sys.stderr)
    from bench_core.cli_extra import after_run

    return after_run(plan, store, counts, args.strict)


class _terminate_as_interrupt:
    """While a run executes, SIGTERM (``kill``, a scheduler's stop) takes the Ctrl-C path: the executor's
    clean-up stops and kills its workers (each its own process group, which a default SIGTERM exit would
    leave running) and the driver exits 143. Truthy once SIGTERM arrived."""

    def __init__(self) -> None:
        self.seen = False
        self._old = None

    def __bool__(self) -> bool:
        return self.seen

    def _handler(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self) -> "_terminate_as_interrupt":
        import signal

        try:
            self._old = signal.signal(signal.SIGTERM, self._handler)
        except ValueError:  # not the main thread (an embedding caller): leave signals alone
            self._old = None
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _executor_options(args) -> dict:
    from bench_core.execute.slurm import load_options

    options = load_options(args.executor_config, args.executor_opt)
    if args.detach:
        if args.executor != "slurm":
            raise UsageError(f"--detach needs an executor that runs jobs elsewhere (slurm), not {args.executor!r}")
        options["detach"] = True
    return options


def cmd_status(args, registry) -> int:
    from bench_core.execute.run import RunRequest, results_store
    from bench_core.execute.status import run_status

    req = RunRequest(tracks=_names(args.track), methods=_names(args.method), datasets=_names(args.dataset),
                     profile=args.profile, seeds=args.seeds, results=args.results, data_dir=args.data_dir)
    table = run_status(registry, req, results_store(req))
    if args.json:
        print(json.dumps(table, indent=1, sort_keys=True))
        return 0
    from tabulate import tabulate

    cols = ["done", "failed", "running", "queued", "pending", "skipped"]
    rows = [[t, *(c.get(k, 0) for k in cols)] for t, c in sorted(table.items())]
    print(tabulate(rows, headers=["track", *cols], tablefmt="github"))
    return 0


def cmd_leaderboard(args, registry) -> int:
    from bench_core.data.dataset import cache_dir
    from bench_core.execute.run import default_results_dir
    from bench_core.leaderboard import FORMATS, build, write
    from bench_core.store import Store, usable_directory

    formats = _names([args.format], "--format") or []
    for f in formats:
        if f not in FORMATS:
            raise UsageError(f"unknown format {f!r} (valid: {', '.join(FORMATS)})")
    tracks = _names(args.track, "--track")
    for t in tracks or []:
        registry.track(t)
    store = Store(Path(args.results).expanduser() if args.results else default_results_dir())
    records = [r for r in store.iter_records() if r.get("profile") == args.profile
               and (not tracks or r.get("track") in tracks)]
    store.warn_damaged("left out of the leaderboard")
    from bench_core.baselines import leaderboard_records, packaged_records, write_baseline

    baseline = [] if args.no_baselines else packaged_records(args.profile, tracks)
    if not records and not baseline:
        raise UsageError(f"no {args.profile} results under {store.root}; run `featbench run --profile {args.profile}` first")
    from bench_core.report import check_highlight

    highlight = check_highlight(args.highlight or [], records + baseline)  # repeated, not split: variants hold commas
    out = Path(args.out).expanduser() if args.out else cache_dir() / "leaderboards" / args.profile
    usable_directory(out, "--out" if args.out else "leaderboard directory")
    if args.prune_stale:
        from bench_core.leaderboard import prune_stale

        print(f"pruned {prune_stale(store, records, registry, args.profile)} stale result file(s)", file=sys.stderr)
        records = [r for r in store.iter_records() if r.get("profile") == args.profile
                   and (not tracks or r.get("track") in tracks)]
    records = leaderboard_records(records, baseline, registry, args.profile, args.no_baselines)
    board = build(records, registry, args.profile)
    for line in board.warnings():
        print(line, file=sys.stderr)
    written = write(board, out, formats, highlight)
    if "json" in formats:
        from bench_core.leaderboard import partition

        written += write_baseline(partition(records, registry, args.profile)[0], out, args.profile)
    if args.print:
        print(board.markdown())
    print(f"leaderboard: {len(written)} file(s) written to {out}", file=sys.stderr)
    return 0


def cmd_compare(args, registry) -> int:
    from bench_core.compare import compare, load_baselines, self_comparison_note
    from bench_core.execute.run import default_results_dir
    from bench_core.store import Store

    tracks = _names(args.track, "--track")
    for t in tracks or []:
        registry.track(t)
    baseline, baseline_records, notes = load_baselines(args.baseline or ["packaged"], args.profile, tracks, registry)
    store = Store(Path(args.results).expanduser() if args.results else default_results_dir())
    records = [r for r in store.iter_records() if r.get("profile") == args.profile
               and (not tracks or r.get("track") in tracks)]
    store.warn_damaged("left out of the comparison")
    if not records:
        raise UsageError(f"no {args.profile} results under {store.root}; run `featbench run --profile {args.profile}` first")
    report = compare(baseline, records, registry, tolerance=args.tolerance, profile=args.profile,
                     baseline_records=baseline_records)
    same = self_comparison_note(records, baseline_records)
    report.notes = notes + ([same] if same else [])
    text = report.markdown()
    print(json.dumps(report.as_json(), indent=1, default=str, allow_nan=False) if args.json else text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    return 1 if report.failed else 0


def cmd_check(args, registry) -> int:
    from bench_core.testing import format_report, run_checks

    if args.track:
        cls = registry.method(args.track, args.name)
    else:
        hits = [t for t in registry.tracks if args.name in registry.methods[t]]
        if not hits:
            all_names = {n for t in registry.tracks for n in registry.methods[t]}
            from bench_core.registry import unknown

            raise unknown("method", args.name, all_names)
        if len(hits) > 1:
            raise UsageError(f"method {args.name!r} exists in several tracks ({', '.join(hits)}); pass --track")
        cls = registry.method(hits[0], args.name)
    if cls.unavailable():
        raise UsageError(f"cannot check {cls.name}: {cls.unavailable()}")
    results = run_checks(cls)
    if args.json:
        print(json.dumps([vars(r) for r in results], indent=1))
    else:
        print(format_report(cls, results))
    return 1 if any(r.status == "failed" for r in results) else 0


def cmd_datasets(args, registry) -> int:
    from bench_core.data.dataset import data_dir, missing_reason

    if args.track:
        registry.track(args.track)
    cards = registry.cards_for(args.track) if args.track else sorted((e.obj for e in registry.cards.values()),
                                                                     key=lambda c: c.name)
    root = data_dir(args.data_dir)
    if args.action == "download":
        from bench_core.cli_extra import datasets_download

        return datasets_download(args, registry, cards, root)
    if args.action == "list" and args.json:
        from bench_core.cli_extra import datasets_list_json

        return datasets_list_json(cards, root)
    if args.action == "list":
        from tabulate import tabulate

        rows = [[c.name, ",".join(c.tracks), c.tier, c.source.loader or c.source.file,
                 "yes" if missing_reason(c, root) is None else "missing"] for c in cards]
        print(tabulate(rows, headers=["dataset", "tracks", "tier", "source", "available"]))
        return 0
    from bench_core.verify import verify_cards

    names = args.names or [c.name for c in cards]
    selected = [registry.card(n) for n in names]
    return verify_cards(selected, registry, root, write=args.write)


def cmd_schema(args, registry) -> int:
    from bench_core.store import SCHEMA_PATH, json_schema

    text = json.dumps(json_schema(), indent=1, sort_keys=True) + "\n"
    if args.write:
        SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_new_plugin(args, registry) -> int:
    from bench_core.scaffold import new_plugin, plan

    plan(args.name, args.track)  # validates name and track first
    taken = registry.methods.get(args.track, {}).get(args.name)
    if taken is not None:
        raise UsageError(f"a {args.track} method named {args.name!r} already exists (plugin {taken.plugin.name}); "
                         f"choose another name")
    root, written = new_plugin(args.name, args.track, args.dir)
    print(f"wrote {len(written)} file(s) to {root}; next: pip install -e {root}[test] && featbench check "
          f"{args.name} (see {root / 'README.md'})", file=sys.stderr)
    return 0


from bench_core.cli_extra import cmd_completion, cmd_errors, cmd_show  # noqa: E402

COMMANDS = {"list": cmd_list, "run": cmd_run, "leaderboard": cmd_leaderboard, "compare": cmd_compare,
            "check": cmd_check, "datasets": cmd_datasets, "schema": cmd_schema,
            "status": cmd_status, "new-plugin": cmd_new_plugin, "errors": cmd_errors, "show": cmd_show,
            "completion": cmd_completion}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        try:
            import argcomplete
        except ImportError:  # pragma: no cover - a dependency; completion is a convenience
            pass
        else:
            argcomplete.autocomplete(parser)  # returns at once unless the shell asks for completions
        args = parser.parse_args(argv)
        if args.command == "completion":  # needs no plugins
            return cmd_completion(args, None)
        from bench_core.registry import load_registry

        registry = load_registry()
        return COMMANDS[args.command](args, registry)
    except UsageError as exc:
        print(f"featbench: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except PluginError as exc:
        print(f"featbench: plugin error: {exc}", file=sys.stderr)
        return 2
    except ResultWriteError as exc:
        stored = getattr(exc, "stored", None)
        done = f" ({stored} result(s) stored before it)" if stored is not None else ""
        print(f"featbench: error: {exc}; the run stopped{done}", file=sys.stderr)
        return 3
    except BrokenPipeError:  # e.g. `featbench list | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
