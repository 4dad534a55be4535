"""GraphQL types of background jobs (``cdp.limits.jobs``): what ``trainModel`` answers, and the
``job(id)`` query a client polls until the job is done (docs/limits.md, "Jobs")."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated

import strawberry
from strawberry.types import Info

from cdp.limits import jobs as J
from resolvers.context import Context
from schema.scoring import ModelCard
from schema.enums import described


@strawberry.enum(description="Where a job is.")
class JobStatus(enum.Enum):
    QUEUED = described("QUEUED", description="Submitted, waiting for a worker.")
    RUNNING = described("RUNNING", description="Running now (`progress` grows).")
    SUCCEEDED = described("SUCCEEDED", description="Finished; the result is in the job.")
    FAILED = described("FAILED", description="Stopped with an error (`error`).")


@strawberry.type(description="Why a job failed: a code of docs/errors.md (or CANCELLED: the server stopped).")
class JobError:
    code: str = strawberry.field(
        description="Error code, as in docs/errors.md (e.g. MODEL_NOT_TRAINED, SHUTTING_DOWN).")
    message: str = strawberry.field(description="What went wrong, in words.")


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=timezone.utc) if at is not None else None


@strawberry.type(description="Long work that runs after its request was answered (training). Poll `job(id)` "
                             "until `status` is SUCCEEDED or FAILED; only the credential that submitted it sees it.")
class Job:
    job: strawberry.Private[J.Job]

    @strawberry.field(description="Pass it to `job(id)`.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.job.id)

    @strawberry.field(description="What the job does: the mutation that submitted it, e.g. `trainModel`.")
    def kind(self) -> str:
        return self.job.kind

    @strawberry.field(description="Where the job is.")
    def status(self) -> JobStatus:
        return JobStatus(self.job.status.value)

    @strawberry.field(description="Fraction done, 0..1 (training: models trained of those asked).")
    def progress(self) -> float:
        return round(self.job.progress, 4)

    @strawberry.field(description="When the job was submitted (ISO 8601, UTC).")
    def submitted_at(self) -> datetime:
        return _utc(self.job.submitted_at)  # type: ignore[return-value]

    @strawberry.field(description="When the job started (ISO 8601, UTC); null while queued.")
    def started_at(self) -> datetime | None:
        return _utc(self.job.started_at)

    @strawberry.field(description="When the job finished (ISO 8601, UTC); null until then.")
    def finished_at(self) -> datetime | None:
        return _utc(self.job.finished_at)

    @strawberry.field(description="Set when the job failed.")
    def error(self) -> JobError | None:
        if self.job.status is not J.JobStatus.FAILED:
            return None
        return JobError(code=self.job.error_code or "INTERNAL_SERVER_ERROR", message=self.job.error_message or "")

    @strawberry.field(description="The result of a `trainModel` job once it succeeded: the new model cards.")
    def models(self) -> list[ModelCard] | None:
        if self.job.status is not J.JobStatus.SUCCEEDED or self.job.kind != "trainModel":
            return None
        return [ModelCard.from_card(c) for c in self.job.result]


@strawberry.type
class JobQuery:
    @strawberry.field(description="A job this credential submitted; null for an unknown id, a job forgotten "
                                  "(the last 1,000 finished ones are kept, in memory only) or another's.")
    def job(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The job id, as `trainModel` answered it.")],
    ) -> Job | None:
        jobs = info.context.jobs
        found = jobs.get(info.context.principal.id, str(id)) if jobs is not None else None
        return Job(job=found) if found is not None else None
