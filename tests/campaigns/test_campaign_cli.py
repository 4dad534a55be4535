"""``cdp campaigns``: the real CLI (a subprocess) on a real store of each backend: launch,
export contact lists, and import responses with errors naming file, row and column."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cdp.demo import telecom as demo
from cdp.analytics.analytics import Analytics
from cdp.campaigns.campaigns import Campaigns, CampaignSpec, WavePlan
from tests.conftest import CliStore
from tests.cli.test_cli import cdp


def test_launch_export_and_import_responses(cli_store: CliStore, tmp_path: Path) -> None:
    data = demo.generate(400, seed=5)
    store = cli_store.open()
    store.bulk_load(data.nodes, data.relationships)
    analytics = Analytics(store, cli_store.settings())
    campaign = analytics.campaigns.create(CampaignSpec(
        name="CLI campaign", offers=("P-VAS-CLOUD",), waves=(WavePlan("SMS"), WavePlan("EMAIL", 3)),
        target_definition={"holds": {"category": "MOBILE_DATA"}}, control_share=0.25))
    analytics.close()
    store.close()  # the embedded file is locked by its one opener: the CLI opens it next
    env = cli_store.env

    audience = cdp("campaigns", "audience", campaign.id, env=env)
    assert audience.returncode == 0, audience.stderr
    planned = json.loads(audience.stdout)
    assert planned["target"] == planned["eligible"] + sum(planned["excluded"].values())

    launch = cdp("campaigns", "launch", campaign.id, env=env)
    assert launch.returncode == 0, launch.stderr
    assert f"{planned['treatment']} contacts" in launch.stderr
    listed = cdp("campaigns", "list", env=env)
    assert campaign.id in listed.stdout and "RUNNING" in listed.stdout

    exported = cdp("campaigns", "export", campaign.id, "--wave", "1", "--format", "csv", env=env)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == planned["treatment"]
    out = tmp_path / "wave1.jsonl"
    jsonl = cdp("campaigns", "export", campaign.id, "--format", "jsonl", "--out", str(out), env=env)
    assert jsonl.returncode == 0
    assert [json.loads(line)["customer_id"] for line in out.read_text().splitlines()] == \
        [r["customer_id"] for r in rows]
    not_yet = cdp("campaigns", "export", campaign.id, "--wave", "2", env=env)
    assert not_yet.returncode == 2 and "has not been launched" in not_yet.stderr

    # A bad value: the file, row and column are named, nothing is written.
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,response,at,revenue\n"
                   f"{rows[0]['customer_id']},CONVERTED,2030-01-01T10:00:00,99.5\n"
                   f"{rows[1]['customer_id']},BOUGHT,2030-01-01T10:00:00,\n")
    refused = cdp("campaigns", "responses", campaign.id, str(bad), env=env)
    assert refused.returncode == 2
    assert f"{bad}: row 2, column response" in refused.stderr and "Traceback" not in refused.stderr
    # A customer outside the audience: named by row too.
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("customer_id,response\nC9999999,OPENED\n")
    refused = cdp("campaigns", "responses", campaign.id, str(stranger), env=env)
    assert refused.returncode == 2 and f"{stranger}: row 1" in refused.stderr and "not in the campaign" in refused.stderr

    good = tmp_path / "good.csv"
    good.write_text("customer_id,response,at,revenue,wave\n"
                    f"{rows[0]['customer_id']},CONVERTED,2030-01-01T10:00:00Z,99.5,1\n"
                    f"{rows[1]['customer_id']},OPENED,2030-01-02T10:00:00,,\n")
    accepted = cdp("campaigns", "responses", campaign.id, str(good), env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert "2 responses recorded" in accepted.stderr

    store = cli_store.open()
    try:
        members = Campaigns(store, None).members(campaign.id).set_index("customer")
        assert members.loc[rows[0]["customer_id"], "revenue"] == 99.5
        assert members["converted_at"].notna().sum() == 1  # the refused files wrote nothing
        assert members.loc[rows[1]["customer_id"], "opened_at"].year == 2030
    finally:
        store.close()
