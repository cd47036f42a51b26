"""How the Slurm executor reads the end of a task from sacct, without a cluster: the rows below are the ones a
real single-node Slurm (tests/slurm) printed for each case."""

from __future__ import annotations

import pytest

from bench_core.execute.slurm import outcome_for_state, parse_sacct

# sacct -n -X -P -o JobID,State,DerivedExitCode for: a task killed by submitit's SIGUSR2 before submitit had
# installed its handler (job 1), a task that ignored it and ran into --time (job 2), a plain failure (job 3)
SACCT = "1|FAILED|0:12\n2|TIMEOUT|0:0\n3|FAILED|1:0\n4_0|CANCELLED by 0|0:15\n"


@pytest.mark.parametrize("task, expected", [("1", ("FAILED", 12)), ("2", ("TIMEOUT", None)),
                                            ("3", ("FAILED", None)), ("4_0", ("CANCELLED", 15)), ("9", None)])
def test_sacct_rows_give_the_state_and_the_signal_that_ended_the_task(task, expected):
    assert parse_sacct(SACCT, task) == expected


def test_a_one_task_array_listed_under_the_array_id_is_found_only_when_asked_for_that_way():
    assert parse_sacct("12|COMPLETED|0:0\n", "12_0") is None
    assert parse_sacct("12|COMPLETED|0:0\n", "12_0", single_fallback=True) == ("COMPLETED", None)
    assert parse_sacct("12|COMPLETED|0:0\n13|FAILED|0:9\n", "12_0", single_fallback=True) is None
    assert parse_sacct("12||\n", "12") == ("UNKNOWN", None)
    assert parse_sacct("12|FAILED|x:y\n", "12") == ("FAILED", None)


@pytest.mark.parametrize("state, exc, sig, status, words", [
    ("TIMEOUT", None, None, "timeout", "time limit"),
    ("FAILED", "UncompletedJobError: Job not requeued because: timed-out and not checkpointable.", None,
     "timeout", "time limit"),
    ("FAILED", None, 12, "timeout", "SIGUSR2"),  # the warning signal reached the task before submitit's handler
    ("FAILED", "ValueError: boom", 12, "crashed", "boom"),  # a real error is reported as such
    ("FAILED", None, 9, "crashed", "FAILED"),
    ("FAILED", None, None, "crashed", "without a result"),
    ("OUT_OF_MEMORY", None, 9, "oom", "memory"),
    ("CANCELLED", None, 15, "crashed", "cancelled"),
    ("PREEMPTED", None, None, "crashed", "preempted"),
    ("NODE_FAIL", None, None, "crashed", "node failed"),
])
def test_each_way_a_task_ends_gives_one_status_and_a_message_that_says_why(state, exc, sig, status, words):
    got_status, message = outcome_for_state(state, exc, sig)
    assert got_status == status
    assert words in message, message
