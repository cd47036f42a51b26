"""Execution: the job grid and keys (:mod:`.jobs`), the job function (:mod:`.job`), the executor
interface (:mod:`.base`), the executors (:mod:`.local`, :mod:`.inline`) and the orchestration of a run
(:mod:`.run`)."""
