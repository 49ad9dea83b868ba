"""The states a job goes through, shared by the job stores (in memory and Redis), their estimates and
the APIs that report them.

A leaf module: bff.jobs imports bff.job_estimates, which needs the states too.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# A StrEnum member equals (and hashes as) its value, so both hold plain strings read from JSON or Redis.
# The states a job ends in: no time left, its result or error kept until it expires.
FINISHED = frozenset({JobState.DONE, JobState.FAILED})
# The states with time left.
UNFINISHED = frozenset({JobState.QUEUED, JobState.RUNNING})
# The 404 of a job id no store holds: a job is forgotten only when its result expires (its expires_at)
# or when it is deleted.
UNKNOWN_JOB = ("There is no such job: it has expired or was deleted, or never existed. "
               "Please upload the image again.")
