"""The core's own plugin: it registers the built-in executors through the public hook."""

from __future__ import annotations

from bench_core.hookspecs import hookimpl


@hookimpl
def featbench_register_executors(register) -> None:
    from bench_core.execute.inline import InlineExecutor
    from bench_core.execute.local import LocalExecutor
    from bench_core.execute.slurm import SlurmExecutor

    register.add("local", LocalExecutor)
    register.add("inline", InlineExecutor)
    register.add("slurm", SlurmExecutor)
