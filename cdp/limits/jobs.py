"""Background jobs: long work (training) runs after its request has been answered.

A request that would hold its HTTP connection for minutes (``trainModel`` takes about
100 s at 1,000,000 customers) instead submits a ``Job`` and answers its id at once; the
client polls ``job(id)`` for the status, the progress, and the result or error
(docs/limits.md, "Jobs"). Jobs are kept in this process's memory only: they are lost on
restart (training saves its models as it finishes each, so nothing trained is lost), and
a job is visible to the credential that submitted it only.

A job's blocking work runs on the heavy lane's threads (``cdp.limits.fair_share``), like every
heavy operation; a credential may have at most ``per_owner`` unfinished jobs (one more
answers ``BUSY``). The last ``keep`` finished jobs are kept; older ones are forgotten.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cdp.errors import CdpError
from cdp.limits.fair_share import HeavyLane
from cdp.limits.request_limits import Busy
from graph.clock import utc_now

log = logging.getLogger("cdp.limits.jobs")

#: Progress callback a job's work receives: the fraction done, 0..1.
Progress = Callable[[float], None]


class JobStatus(enum.Enum):
    """Where a job is: waiting for a lane thread, running, or finished one way or the other."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass
class Job:
    """One submitted job. ``result`` is set when it succeeded, ``error_code`` and
    ``error_message`` when it failed (never a traceback: an unexpected error is logged and
    reported as ``INTERNAL_SERVER_ERROR``)."""

    id: str
    owner: str
    kind: str
    submitted_at: datetime
    status: JobStatus = JobStatus.QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: float = 0.0
    result: Any = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass
class Jobs:
    """The jobs of one app (see the module docstring). Used from the event loop; a job's
    work updates only its own status and progress from its thread."""

    lane: HeavyLane
    per_owner: int
    keep: int = 1000
    #: The server's event loop (``bind``); jobs run there, whichever thread submits them.
    loop: asyncio.AbstractEventLoop | None = None
    _jobs: OrderedDict[str, Job] = field(default_factory=OrderedDict)
    _tasks: set[Any] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # a lane thread may submit too

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run jobs on ``loop`` (the server's, at start-up): an operation executed in a heavy
        lane's own loop (``cdp.limits.fair_share``) may submit one, and that loop ends with it."""
        self.loop = loop

    def submit(self, owner: str, kind: str, work: Callable[[Progress], Any]) -> Job:
        """Start ``work(progress)`` as a job of principal ``owner``; return the job at once.

        Called from an event loop (the server's or a lane's). Raises ``Busy`` (with
        ``retry_after``) when ``owner`` has ``per_owner`` unfinished jobs.
        """
        with self._lock:
            unfinished = sum(1 for j in self._jobs.values() if j.owner == owner and not j.finished)
            if unfinished >= self.per_owner:
                raise Busy(f"this credential already has {unfinished} unfinished jobs; at most {self.per_owner} "
                           "at once: poll job(id) and submit again when one is done", retry_after=10)
            job = Job(id="job_" + uuid.uuid4().hex, owner=owner, kind=kind, submitted_at=utc_now())
            self._jobs[job.id] = job
            self._forget_old()
        running = asyncio.get_running_loop()
        if self.loop is None or self.loop is running:
            task: Any = running.create_task(self._run(job, work))
        else:
            task = asyncio.run_coroutine_threadsafe(self._run(job, work), self.loop)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)
        return job

    def get(self, owner: str, job_id: str) -> Job | None:
        """The job ``job_id`` when ``owner`` submitted it; None otherwise (unknown, forgotten,
        or someone else's: the answer does not tell which)."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    async def _run(self, job: Job, work: Callable[[Progress], Any]) -> None:
        def progress(fraction: float) -> None:
            job.progress = min(1.0, max(job.progress, fraction))

        def run() -> Any:
            job.status, job.started_at = JobStatus.RUNNING, utc_now()
            return work(progress)

        try:
            job.result = await self.lane.run_sync(run)  # on a heavy lane thread
            job.status, job.progress = JobStatus.SUCCEEDED, 1.0
        except CdpError as exc:
            job.status, job.error_code, job.error_message = JobStatus.FAILED, exc.code, exc.message
        except asyncio.CancelledError:  # the server is shutting down
            job.status, job.error_code, job.error_message = (
                JobStatus.FAILED, "CANCELLED", "the server stopped before the job finished")
            raise
        except Exception:
            log.exception("job %s (%s) failed", job.id, job.kind)
            job.status, job.error_code, job.error_message = (
                JobStatus.FAILED, "INTERNAL_SERVER_ERROR", "Internal server error.")
        finally:
            job.finished_at = utc_now()

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished]
        for job_id in finished[:max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]
