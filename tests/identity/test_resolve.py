"""Identity resolution applied to a real store by the real ``cdp resolve`` command:
multi-source records with planted duplicates become one customer per person, with
every identity, value, account and contact kept, and a split stays split. On each backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from cdp.identity.resolution import INPUT_COLUMNS, normalise_birth_date, pair_quality
from cdp.customers.provenance import value_id
from cdp.demo.source_records import generate_sources
from graph.store import GraphStore, node_op, relationship_op
from tests.conftest import CliStore
from tests.cli.test_cli import cdp

SEEN = datetime(2026, 9, 1)


def _load_sources(store: GraphStore, records: pd.DataFrame) -> None:
    """Each source record as its own customer, with its identity, attribute values and an account."""
    customers, identities, values, has_identity, has_value, accounts, holds = [], [], [], [], [], [], []
    for r in records.itertuples(index=False):
        row = {c: (None if pd.isna(getattr(r, c)) else getattr(r, c)) for c in INPUT_COLUMNS}
        cid, iid = f"{r.source}-{r.source_key}", f"{r.source}:{r.source_key}"
        born = normalise_birth_date(row["birth_date"])
        customers.append({"id": cid, "first_name": row["first_name"], "last_name": row["last_name"],
                          "company_name": row["company_name"], "national_id": row["national_id"],
                          "birth_date": date.fromisoformat(born) if born else None, "email": row["email"],
                          "phone": row["phone"], "postal_code": row["postal_code"], "city": row["city"],
                          "street": row["street"], "tier": "CONSUMER", "status": "ACTIVE"})
        identities.append({"id": iid, "source": r.source, "source_key": r.source_key, "matched_by": "SEED",
                           "confidence": 1.0, "linked_at": SEEN})
        has_identity.append({"from": cid, "to": iid})
        for key in INPUT_COLUMNS[2:]:
            if row[key] is not None:
                vid = value_id(iid, key, SEEN)
                values.append({"id": vid, "key": key, "value": row[key], "source": r.source, "identity_id": iid,
                               "observed_at": SEEN, "accuracy": 0.8})
                has_value.append({"from": cid, "to": vid})
        accounts.append({"id": f"A-{cid}", "type": "POSTPAID", "status": "ACTIVE"})
        holds.append({"from": cid, "to": f"A-{cid}"})
    store.write([node_op("Customer", customers), node_op("Identity", identities),
                 node_op("AttributeValue", values), node_op("Account", accounts),
                 relationship_op("HAS_IDENTITY", has_identity), relationship_op("HAS_ATTRIBUTE", has_value),
                 relationship_op("HOLDS", holds)])


@pytest.fixture()
def sources(backend: str, tmp_path: Path) -> Iterator[tuple[CliStore, pd.DataFrame]]:
    data = generate_sources(400, seed=5)
    # The merges of `cdp resolve` need more than the tests' usual embedded page cache.
    cli_store = CliStore(backend, tmp_path, buffer_pool_mb=2048)
    store = cli_store.open()
    _load_sources(store, data.records)
    store.close()  # the embedded file is locked by its one opener: `cdp resolve` opens it next
    truth = data.truth.assign(identity_id=data.truth["source"] + ":" + data.truth["source_key"])
    yield cli_store, truth
    if backend == "neo4j":
        CliStore(backend, tmp_path)  # wiped


def test_cdp_resolve_merges_duplicates_keeping_everything(sources) -> None:  # type: ignore[no-untyped-def]
    target, truth = sources
    env = target.env
    dry = cdp("resolve", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "merges to make" in dry.stderr

    store = target.open()
    before = store.counts()
    store.close()
    assert before["Customer"] == len(truth)  # the dry run changed nothing

    run = cdp("resolve", env=env)
    assert run.returncode == 0, run.stderr
    store = target.open()
    try:
        after = store.counts()
        customers = store.export_nodes("Customer").to_pandas()
        links = store.export_relationships("HAS_IDENTITY").to_pandas()
    finally:
        store.close()
    # Nothing lost: every identity, value and account still exists and is linked exactly once.
    for label in ("Identity", "AttributeValue", "Account", "Customer"):
        assert after[label] == before[label]
    for rel in ("HAS_IDENTITY", "HAS_ATTRIBUTE", "HOLDS"):
        assert after[rel] == before[rel]
    active = customers[customers["status"] != "MERGED"]
    merged = customers[customers["status"] == "MERGED"]
    assert len(merged) > 0 and merged["merged_into"].isin(active["id"]).all()
    assert not links["from"].isin(merged["id"]).any()  # merged customers hold no identity any more
    # Quality of the merge, per identity, against the generator's truth.
    owner = links.set_index("to")["from"]
    q = pair_quality(truth["identity_id"].map(owner), truth["true_person_id"])
    assert q.precision >= 0.99 and q.recall >= 0.95, q
    assert len(active) <= truth["true_person_id"].nunique() * 1.05

    again = cdp("resolve", env=env)  # idempotent: nothing left to merge
    assert again.returncode == 0 and "0 merges to make" in again.stderr


def test_a_split_identity_is_not_merged_again(sources) -> None:  # type: ignore[no-untyped-def]
    from cdp.customers.identity_links import split_identity
    from cdp.customers.profile import load_policy

    target, truth = sources
    env = target.env
    assert cdp("resolve", env=env).returncode == 0
    store = target.open()
    try:
        links = store.export_relationships("HAS_IDENTITY").to_pandas()
        shared = links.groupby("from").filter(lambda g: len(g) > 1)
        identity = shared["to"].iloc[-1]
        split = split_identity(store, load_policy(), identity, datetime(2026, 11, 1))
    finally:
        store.close()
    assert cdp("resolve", env=env).returncode == 0
    store = target.open()
    try:
        assert store.customer_of_identity(identity) == split.new_customer_id
        assert store.identities_of_customers([split.new_customer_id])[split.new_customer_id][0]["matched_by"] == "SPLIT"
    finally:
        store.close()
