"""Progress of a long command on standard error when it is not a terminal: plain lines
(``cdp.cli.progress_report``)."""

from __future__ import annotations

import io

from cdp.cli.progress_report import Progress


def test_plain_lines_name_the_task_the_stage_and_the_count() -> None:
    out = io.StringIO()  # not a terminal: no bar, lines
    with Progress("import", total=1200, stream=out) as progress:
        progress.stage("reading")
        progress.update(1200)
    lines = out.getvalue().splitlines()
    assert lines[0] == "cdp: import: reading: 0 of 1,200 rows"
    assert lines[-1] == "cdp: import: done: 1,200 of 1,200 rows"


def test_an_unknown_total_is_left_out_until_set() -> None:
    out = io.StringIO()
    progress = Progress("train", unit="models", stream=out)
    progress.stage("churn")
    progress.set_total(3)
    progress.update(3)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "cdp: train: churn: 0 models"
    assert lines[-1] == "cdp: train: done: 3 of 3 models"
