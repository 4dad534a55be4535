"""Background jobs: long work runs on the heavy lane after its request was answered, one
owner sees only its own jobs, and a failure is a coded status, not an exception
(``cdp.limits.jobs``)."""

from __future__ import annotations

import asyncio

import pytest

from cdp.errors import InvalidInput
from cdp.limits.fair_share import HeavyLane
from cdp.limits.jobs import Jobs, JobStatus
from cdp.limits.request_limits import Busy


def _jobs(per_owner: int = 2) -> Jobs:
    return Jobs(lane=HeavyLane(per_credential=2, budget=100.0, burst=100.0, threads=1), per_owner=per_owner)


def test_a_job_runs_reports_progress_and_its_result_to_its_owner_only() -> None:
    async def scenario() -> None:
        jobs = _jobs()

        def work(progress):  # type: ignore[no-untyped-def]
            progress(0.5)
            return 42

        job = jobs.submit("key-a", "train", work)
        assert job.status == JobStatus.QUEUED  # answered at once; the work has not started
        while not job.finished:
            await asyncio.sleep(0.01)
        assert (job.status, job.result, job.progress) == (JobStatus.SUCCEEDED, 42, 1.0)
        assert job.started_at is not None and job.finished_at is not None
        assert jobs.get("key-a", job.id) is job
        assert jobs.get("key-b", job.id) is None  # someone else's job: not found
    asyncio.run(scenario())


def test_a_failed_job_keeps_the_code_and_message_of_its_error() -> None:
    async def scenario() -> None:
        jobs = _jobs()

        def work(progress):  # type: ignore[no-untyped-def]
            raise InvalidInput("no data to train on", field="model")

        job = jobs.submit("key-a", "train", work)
        while not job.finished:
            await asyncio.sleep(0.01)
        assert (job.status, job.error_code, job.error_message) == (
            JobStatus.FAILED, "BAD_USER_INPUT", "no data to train on")
    asyncio.run(scenario())


def test_an_owner_with_too_many_unfinished_jobs_is_busy() -> None:
    async def scenario() -> None:
        jobs = _jobs(per_owner=1)
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def work(progress):  # type: ignore[no-untyped-def]
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result()

        first = jobs.submit("key-a", "train", work)
        with pytest.raises(Busy) as busy:
            jobs.submit("key-a", "train", work)
        assert busy.value.retry_after == 10
        other = jobs.submit("key-b", "train", lambda progress: None)  # another owner is not held back
        release.set()
        while not (first.finished and other.finished):
            await asyncio.sleep(0.01)
        assert first.status == other.status == JobStatus.SUCCEEDED
    asyncio.run(scenario())
