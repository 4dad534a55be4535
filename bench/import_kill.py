"""Kill a write mid-way, run it again, and compare with a clean run (issue 7, ``make loadtest``).

    .venv/bin/python bench/import_kill.py [--customers 30000] [--batch-size 500] [--kills 2]

Two scenarios, each ending in a comparison of two stores' content:

1. **CLI import.** A seeded billing-style CSV (one row per subscription, with its
   customer, account and product; contact data recorded with provenance) is imported
   with ``cdp import --batch-size N`` into store A; the process is SIGKILLed after a
   few batches have committed (``--kills`` times, each run getting further), then the
   same command is run to completion. The same file is imported once, cleanly, into a
   fresh store B.
2. **Server.** A partner client sends the same customers as batched ``upsertCustomers``,
   ``upsertAccounts`` and ``upsertMonetaryEvents`` mutations to ``cdp serve``; the
   server is SIGKILLed while a batch is being sent (``--kills`` times, each further on),
   restarted on the same store, every batch acknowledged before the kill is read back
   through the API, the first unacknowledged batch must be in the store whole or not at
   all, and the client re-sends every batch from the first (upserts are idempotent). A
   second server on a fresh store gets every batch once.

"Same content" means equal node and relationship counts per label and type and an
equal canonical dump of every node and relationship (``canonical_dump``), leaving out
what legitimately differs between two runs: ``ImportRun`` nodes (one per finished
import, with its times and counts), ``ApiKey`` nodes, and for the server scenario the
time a partner's observation was received (``AttributeValue.observed_at`` and the
id built from it, ``Identity.linked_at``).

Writes ``bench/out/import-kill.json`` and prints a Markdown summary. Exits 1 when a
scenario does not converge (or a killed run was not actually cut short).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.server import Server, cdp_executable  # noqa: E402

MAPPING = """\
# Billing-style export: one row per subscription with its customer, account and product.
[source]
name = "BILLING"
trust = 0.9
observed_at = "extracted"

[[entity]]
label = "Customer"
key = "customer_no"
[entity.columns]
first_name = "first_name"
last_name = "last_name"
email = { column = "email", convert = "lower" }
phone = "phone"
city = "city"
tier = { column = "segment", values = { PART = "CONSUMER", ZAK = "BUSINESS", GROOT = "KEY_ACCOUNT" } }
joined_on = "customer_since"

[[entity]]
label = "Account"
key = "account_no"
[entity.columns]
type = { column = "account_type", values = { POST = "POSTPAID", PRE = "PREPAID", ZAK = "BUSINESS" } }
status = "account_status"
opened_on = "opened_on"

[[entity]]
label = "Product"
key = "product_code"
[entity.columns]
name = "product_name"
category = "category"

[[entity]]
label = "Subscription"
key = "subscription_no"
key_prefix = "BIL-"
[entity.columns]
status = "subscription_status"
since = "since"
monthly_fee = "monthly_fee"
discount = { column = "discount", default = 0.0 }

[[relationship]]
type = "HOLDS"
from = "Customer"
to = "Account"

[[relationship]]
type = "HAS_SUBSCRIPTION"
from = "Account"
to = "Subscription"

[[relationship]]
type = "OF_PRODUCT"
from = "Subscription"
to = "Product"
"""

COLUMNS = ["customer_no", "first_name", "last_name", "email", "phone", "city", "segment", "customer_since",
           "account_no", "account_type", "account_status", "opened_on", "subscription_no", "subscription_status",
           "since", "product_code", "product_name", "category", "monthly_fee", "discount", "extracted"]
FIRST = ["Anna", "Bram", "Daan", "Emma", "Fleur", "Jan", "Julia", "Lars", "Lotte", "Mila", "Noah", "Sem"]
LAST = ["Bakker", "de Boer", "Dekker", "van Dijk", "Jansen", "de Jong", "Meijer", "Mulder", "Smit", "Visser"]
CITIES = ["Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", "Tilburg", "Breda"]
PRODUCTS = [("MOB-5", "Mobiel 5 GB", "MOBILE_DATA", 15.0), ("MOB-20", "Mobiel 20 GB", "MOBILE_DATA", 25.0),
            ("INT-500", "Internet 500", "BROADBAND", 49.95), ("INT-1000", "Internet 1000", "BROADBAND", 64.95),
            ("TV-START", "TV Start", "TV", 12.5), ("TV-PLUS", "TV Plus", "TV", 19.5)]

#: Node labels and properties left out of the comparison in every scenario.
IGNORED_LABELS = ("ImportRun", "ApiKey")


def _say(message: str) -> None:
    print(f"import_kill: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


@dataclass
class Customer:
    """One generated customer with its accounts (each with subscriptions)."""

    row: dict[str, Any]
    accounts: list[dict[str, Any]] = field(default_factory=list)


def generate_customers(customers: int, seed: int) -> list[Customer]:
    """``customers`` seeded customers, each with 1-2 accounts of 1-2 subscriptions."""
    rng = random.Random(seed)
    out = []
    account_no = subscription_no = 0
    for i in range(1, customers + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        c = Customer({
            "id": f"K{i:07d}", "first_name": first, "last_name": last,
            "email": f"{first.lower()}.{i}@example.org", "phone": f"+316{rng.randrange(10**8):08d}",
            "city": rng.choice(CITIES), "tier": rng.choices(["CONSUMER", "BUSINESS", "KEY_ACCOUNT"], [85, 13, 2])[0],
            "joined_on": f"{rng.randrange(2000, 2025)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "extracted": f"2026-01-{rng.randrange(1, 29):02d}T06:{rng.randrange(60):02d}:00Z",
        })
        for _ in range(rng.choice([1, 1, 2])):
            account_no += 1
            account = {"id": f"R{account_no:07d}", "type": rng.choice(["POSTPAID", "PREPAID"]),
                       "status": "ACTIVE", "opened_on": c.row["joined_on"], "subscriptions": [], "events": []}
            for _ in range(rng.choice([1, 2])):
                subscription_no += 1
                code, name, category, price = rng.choice(PRODUCTS)
                account["subscriptions"].append({
                    "id": f"{subscription_no:08d}", "status": "ACTIVE", "since": account["opened_on"],
                    "product": (code, name, category), "monthly_fee": price,
                    "discount": rng.choice(["", "0.1", "0.25"])})
            for k in range(rng.choice([1, 2, 3])):
                account["events"].append({
                    "id": f"E{account_no:07d}-{k}", "kind": rng.choice(["INVOICE", "PAYMENT"]),
                    "amount": round(rng.uniform(5, 150), 2), "currency": "EUR",
                    "at": f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T12:00:00Z"})
            c.accounts.append(account)
        out.append(c)
    return out


def write_csv(path: Path, customers: Iterable[Customer]) -> int:
    """Write the billing-style CSV of ``customers`` (one row per subscription); return the rows written."""
    import csv

    tier_code = {"CONSUMER": "PART", "BUSINESS": "ZAK", "KEY_ACCOUNT": "GROOT"}
    type_code = {"POSTPAID": "POST", "PREPAID": "PRE"}
    rows = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for c in customers:
            r = c.row
            for a in c.accounts:
                for s in a["subscriptions"]:
                    code, name, category = s["product"]
                    writer.writerow([r["id"], r["first_name"], r["last_name"], r["email"].upper(), r["phone"],
                                     r["city"], tier_code[r["tier"]], r["joined_on"], a["id"], type_code[a["type"]],
                                     a["status"], a["opened_on"], s["id"], s["status"], s["since"], code, name,
                                     category, f"{s['monthly_fee']:.2f}", s["discount"], r["extracted"]])
                    rows += 1
    tmp.rename(path)
    return rows


# --------------------------------------------------------------------------- store content


def canonical_dump(db_path: Path, received_times: bool = False) -> dict[str, list[list[Any]]]:
    """Every node (by label) and relationship (by type) of the store at ``db_path``, sorted, as JSON-able rows.

    Leaves out ``IGNORED_LABELS``. With ``received_times`` (partner writes through the API),
    also leaves out when each observation was received: ``AttributeValue.observed_at``
    (and the value id built from it, replaced by ``identity|key|value``) and
    ``Identity.linked_at``. The store must not be open in another process.
    """
    from graph.ladybug_store import LadybugStore
    from graph.model import MODEL

    store = LadybugStore(db_path, buffer_pool_mb=256)
    try:
        tables = {n.label: store.export_nodes(n.label).to_pylist() for n in MODEL.nodes
                  if n.label not in IGNORED_LABELS}
        rels = {r.type: store.export_relationships(r.type).to_pylist() for r in MODEL.relationships}
    finally:
        store.close()
    renamed: dict[str, str] = {}
    if received_times:
        for row in tables["AttributeValue"]:
            new_id = f"{row['identity_id']}|{row['key']}|{row['value']}"
            renamed[row["id"]] = new_id
            row["id"] = new_id
            row.pop("observed_at", None)
        for row in tables["Identity"]:
            row.pop("linked_at", None)
        for row in rels["HAS_ATTRIBUTE"]:
            row["to"] = renamed.get(row["to"], row["to"])

    def plain(rows: list[dict[str, Any]]) -> list[list[Any]]:
        return sorted([[k, _json_value(v)] for k, v in sorted(r.items())] for r in rows)

    return {**{label: plain(rows) for label, rows in tables.items()},
            **{f"rel:{t}": plain(rows) for t, rows in rels.items()}}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def digest(dump: dict[str, list[list[Any]]]) -> str:
    """SHA-256 of a canonical dump (equal content, equal digest)."""
    return hashlib.sha256(json.dumps(dump, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def counts(dump: dict[str, list[list[Any]]]) -> dict[str, int]:
    """Rows per label and relationship type of a dump (non-empty ones)."""
    return {name: len(rows) for name, rows in dump.items() if rows}


def differences(a: dict[str, list[list[Any]]], b: dict[str, list[list[Any]]], limit: int = 5) -> list[str]:
    """What differs between two dumps: per label or type, counts and a few rows only in one of them."""
    out = []
    for name in sorted(set(a) | set(b)):
        ra = {json.dumps(r) for r in a.get(name, [])}
        rb = {json.dumps(r) for r in b.get(name, [])}
        if ra == rb and len(a.get(name, [])) == len(b.get(name, [])):
            continue
        out.append(f"{name}: {len(a.get(name, []))} vs {len(b.get(name, []))} rows; "
                   f"only in A: {sorted(ra - rb)[:limit]}; only in B: {sorted(rb - ra)[:limit]}")
    return out


def store_counts(db_path: Path) -> dict[str, int]:
    """Node and relationship counts of the store at ``db_path`` (opens it: replays its write-ahead log)."""
    from graph.ladybug_store import LadybugStore

    store = LadybugStore(db_path, buffer_pool_mb=256)
    try:
        return {k: v for k, v in store.counts().items() if v}
    finally:
        store.close()


# --------------------------------------------------------------------------- scenario 1: cdp import


def cdp_env(db_path: Path) -> dict[str, str]:
    """Environment for a ``cdp`` command on the embedded store at ``db_path``."""
    env = {**os.environ, "CDP_DB_PATH": str(db_path), "CDP_BUFFER_POOL_MB": "512"}
    env.pop("NEO4J_URI", None)
    return env


def run_import(db_path: Path, csv_path: Path, mapping_path: Path, batch_size: int,
               kill_after: int | None = None, kill_delay: float = 0.0) -> dict[str, Any]:
    """Run ``cdp import``; with ``kill_after``, SIGKILL it ``kill_delay`` s after batch ``kill_after`` committed.

    Returns the exit status, the batches it reported committed, whether it was killed, and seconds.
    """
    cmd = [cdp_executable(), "import", "--mapping", str(mapping_path), str(csv_path),
           "--batch-size", str(batch_size), "--rejects", str(db_path.with_suffix(".rejects.csv"))]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=cdp_env(db_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stderr is not None
    batches = 0
    killed = False
    tail: list[str] = []
    for line in proc.stderr:
        tail = (tail + [line.rstrip()])[-5:]
        if line.startswith("cdp: import: batch "):
            batches = int(line.split()[3])
            if kill_after is not None and batches >= kill_after and not killed:
                time.sleep(kill_delay)
                proc.send_signal(signal.SIGKILL)
                killed = True
    out = proc.stdout.read() if proc.stdout else ""
    status = proc.wait()
    return {"command": " ".join(cmd), "exit": status, "killed": killed and status == -signal.SIGKILL,
            "batches_committed": batches, "seconds": round(time.perf_counter() - started, 2),
            "summary": out.strip().splitlines()[:1], "stderr_tail": [] if status in (0, -9) else tail}


def cli_scenario(work: Path, customers: int, batch_size: int, kills: int, seed: int) -> dict[str, Any]:
    """Scenario 1: import killed ``kills`` times then completed into A, clean import into B; compare."""
    rng = random.Random(seed)
    csv_path, mapping_path = work / "billing.csv", work / "billing.toml"
    rows = write_csv(csv_path, generate_customers(customers, seed))
    mapping_path.write_text(MAPPING)
    batches = -(-rows // batch_size)
    a, b = work / "a.lbdb", work / "b.lbdb"
    runs = []
    # Each killed run gets further than the one before (a re-run skips unchanged batches quickly).
    points = sorted(rng.sample(range(2, max(3, batches * 3 // 4)), min(kills, max(1, batches * 3 // 4 - 2))))
    for point in points:
        batch_seconds = (runs[-1]["seconds"] / max(1, runs[-1]["batches_committed"])) if runs else 0.05
        run = run_import(a, csv_path, mapping_path, batch_size, kill_after=point,
                         kill_delay=rng.uniform(0, min(0.5, batch_seconds)))
        run["store_after"] = store_counts(a)
        _say(f"killed after {run['batches_committed']} of {batches} batches ({run['seconds']} s); "
             f"store holds {run['store_after'].get('Customer', 0):,} of {customers:,} customers")
        runs.append(run)
    final = run_import(a, csv_path, mapping_path, batch_size)
    _say(f"re-run to completion: exit {final['exit']} in {final['seconds']} s")
    clean = run_import(b, csv_path, mapping_path, batch_size)
    _say(f"clean import into a fresh store: exit {clean['exit']} in {clean['seconds']} s")
    dump_a, dump_b = canonical_dump(a), canonical_dump(b)
    diff = differences(dump_a, dump_b)
    partial = all(r["killed"] and 0 < r["store_after"].get("Customer", 0) < customers for r in runs)
    return {
        "scenario": "cdp import killed mid-way, re-run, against a clean import",
        "rows": rows, "customers": customers, "batch_size": batch_size, "batches": batches,
        "csv_mib": round(csv_path.stat().st_size / 2**20, 1), "killed_runs": runs, "rerun": final, "clean": clean,
        "counts": counts(dump_a), "digest_a": digest(dump_a), "digest_b": digest(dump_b),
        "differences": diff, "kills_cut_short": partial,
        "converged": not diff and final["exit"] == 0 and clean["exit"] == 0 and partial,
    }


# --------------------------------------------------------------------------- scenario 2: the server


UPSERT = {
    "Customer": "mutation Batch($items: [CustomerInput!]!) { upsertCustomers(source: \"BILLING\", items: $items) "
                "{ created updated ids errors { index field message code } } }",
    "Account": "mutation Batch($items: [AccountInput!]!) { upsertAccounts(source: \"BILLING\", items: $items) "
               "{ created updated ids errors { index field message code } } }",
    "MonetaryEvent": "mutation Batch($items: [MonetaryEventInput!]!) { upsertMonetaryEvents(source: \"BILLING\", "
                     "items: $items) { created updated ids errors { index field message code } } }",
}
READ_BACK = """query ReadBack($ids: [ID!]!, $n: Int!) {
  customers(where: {ids: $ids}, first: $n) { edges { node {
    id firstName lastName email phone tier joinedOn address { city }
    accounts { id type status openedOn }
    monetaryHistory(first: 50) { totalCount edges { node { id kind amount currency at accountId } } } } } } }"""


def partner_batches(customers: list[Customer], size: int) -> list[tuple[str, list[dict[str, Any]]]]:
    """The partner's stream: per slice of ``size`` customers, a customer, an account and an event batch."""
    out: list[tuple[str, list[dict[str, Any]]]] = []
    for start in range(0, len(customers), size):
        part = customers[start:start + size]
        out.append(("Customer", [{
            "id": c.row["id"], "firstName": c.row["first_name"], "lastName": c.row["last_name"],
            "email": c.row["email"], "phone": c.row["phone"], "city": c.row["city"], "tier": c.row["tier"],
            "joinedOn": c.row["joined_on"]} for c in part]))
        out.append(("Account", [{"id": a["id"], "customerId": c.row["id"], "type": a["type"], "status": a["status"],
                                 "openedOn": a["opened_on"]} for c in part for a in c.accounts]))
        out.append(("MonetaryEvent", [{"id": e["id"], "accountId": a["id"], "kind": e["kind"], "amount": e["amount"],
                                       "currency": e["currency"], "at": e["at"]}
                                      for c in part for a in c.accounts for e in a["events"]]))
    return out


def create_key(db_path: Path, name: str) -> str:
    """An admin API key for ``name`` in the store at ``db_path`` (with ``cdp keys create``)."""
    out = subprocess.run([cdp_executable(), "keys", "create", "--role", "admin", "--name", name],
                         env=cdp_env(db_path), capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip().splitlines()[0]


async def send_batches(url: str, key: str, batches: list[tuple[str, list[dict[str, Any]]]],
                       kill: tuple[int, float, Server] | None = None) -> tuple[list[int], str | None]:
    """POST ``batches`` in order; return the indexes acknowledged (no errors at all) and the first failure.

    With ``kill = (k, fraction, server)``, the server is SIGKILLed while batch ``k`` is in flight:
    ``fraction`` of the median time the earlier batches of its kind took after it was sent.
    Sending stops at the first failure.
    """
    import httpx

    acked: list[int] = []
    took: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=60) as client:
        for i, (label, items) in enumerate(batches):
            sent = time.perf_counter()
            request = asyncio.create_task(client.post(url + "/graphql", headers=headers,
                                                      json={"query": UPSERT[label], "variables": {"items": items}}))
            if kill and i == kill[0]:
                seen = sorted(took.get(label, [0.02]))
                await asyncio.sleep(kill[1] * seen[len(seen) // 2])
                kill[2].process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
            try:
                resp = await request
            except httpx.HTTPError as exc:
                return acked, f"batch {i}: {type(exc).__name__}"
            took.setdefault(label, []).append(time.perf_counter() - sent)
            body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
            payload = next(iter((body.get("data") or {}).values()), None)
            if resp.status_code != 200 or body.get("errors") or not payload or payload["errors"]:
                return acked, f"batch {i}: HTTP {resp.status_code} {resp.text[:300]}"
            acked.append(i)
    return acked, None


def read_back(url: str, key: str, customers: list[Customer]) -> list[str]:
    """Check through the API that every customer, account and event of ``customers`` is there as sent."""
    import httpx

    problems: list[str] = []
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
        for start in range(0, len(customers), 50):
            part = customers[start:start + 50]
            resp = client.post(url + "/graphql", json={"query": READ_BACK, "variables": {
                "ids": [c.row["id"] for c in part], "n": len(part)}})
            body = resp.json()
            if body.get("errors"):
                return problems + [f"read-back failed: {body['errors'][:1]}"]
            found = {e["node"]["id"]: e["node"] for e in body["data"]["customers"]["edges"]}
            for c in part:
                node = found.get(c.row["id"])
                if node is None:
                    problems.append(f"customer {c.row['id']} missing")
                    continue
                if (node["phone"], node["address"]["city"] if node["address"] else None) != (c.row["phone"],
                                                                                           c.row["city"]):
                    problems.append(f"customer {c.row['id']}: {node['phone']}, {node['address']}")
                accounts = {a["id"] for a in node["accounts"]}
                events = {(e["id"], e["amount"]) for e in (x["node"] for x in node["monetaryHistory"]["edges"])}
                for a in c.accounts:
                    if a["id"] not in accounts:
                        problems.append(f"account {a['id']} of {c.row['id']} missing")
                    for e in a["events"]:
                        if (e["id"], e["amount"]) not in events:
                            problems.append(f"event {e['id']} of {c.row['id']} missing")
    return problems


def in_flight_outcome(url: str, key: str, label: str, part: list[Customer]) -> str:
    """Whether the ``label`` batch of the customers ``part`` is in the store: whole, not at all, or partly."""
    import httpx

    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
        body = client.post(url + "/graphql", json={"query": READ_BACK, "variables": {
            "ids": [c.row["id"] for c in part], "n": len(part)}}).json()
    edges = (body.get("data") or {"customers": {"edges": []}})["customers"]["edges"]
    nodes = {e["node"]["id"]: e["node"] for e in edges}
    if label == "Customer":
        wanted, found = {c.row["id"] for c in part}, set(nodes)
    elif label == "Account":
        wanted = {a["id"] for c in part for a in c.accounts}
        found = {a["id"] for n in nodes.values() for a in n["accounts"]}
    else:
        wanted = {e["id"] for c in part for a in c.accounts for e in a["events"]}
        found = {e["id"] for n in nodes.values() for e in (x["node"] for x in n["monetaryHistory"]["edges"])}
    present = len(wanted & found)
    return "applied whole" if present == len(wanted) else "not applied" if present == 0 else \
        f"PARTLY applied ({present} of {len(wanted)})"


def _acknowledged_customers(customers: list[Customer], acked: list[int], size: int) -> list[Customer]:
    """The customers whose three batches were all acknowledged."""
    done = set(acked)
    out = []
    for part, start in enumerate(range(0, len(customers), size)):
        if {3 * part, 3 * part + 1, 3 * part + 2} <= done:
            out.extend(customers[start:start + size])
    return out


def server_scenario(work: Path, customers: int, batch_size: int, kills: int, seed: int) -> dict[str, Any]:
    """Scenario 2: partner batches to a server SIGKILLed mid-way ``kills`` times (each time restarted and
    every batch re-sent from the first), then sent to completion; against a clean run."""
    rng = random.Random(seed + 1)
    people = generate_customers(customers, seed)
    batches = partner_batches(people, batch_size)
    a, b = work / "server-a.lbdb", work / "server-b.lbdb"
    key_a = create_key(a, "import-kill partner")
    key_b = create_key(b, "import-kill partner")
    result: dict[str, Any] = {"scenario": "partner upserts to cdp serve, server killed mid-way, restarted, re-sent",
                              "customers": customers, "batch_size": batch_size, "requests": len(batches),
                              "rounds": []}
    started = time.perf_counter()
    # Each killed round gets further than the one before; the batches before are re-sent (unchanged) first.
    points = sorted(rng.sample(range(len(batches) // 4, 3 * len(batches) // 4), kills))
    server = Server(a, work / "server-a-0.log")
    server.start()
    for n, kill_at in enumerate(points):
        acked, failure = asyncio.run(send_batches(server.url, key_a, batches,
                                                  (kill_at, rng.uniform(0.1, 0.6), server)))
        server.process.wait()  # type: ignore[union-attr]
        first_unacked = len(acked)
        round_ = {"kill_while_sending": kill_at, "answered_before_kill": kill_at in acked,
                  "acknowledged": first_unacked, "client_saw": failure, "server": server.exit_description()}
        server = Server(a, work / f"server-a-{n + 1}.log")
        round_["restart_seconds"] = round(server.start(), 2)
        label = batches[first_unacked][0]
        part = people[first_unacked // 3 * batch_size:(first_unacked // 3 + 1) * batch_size]
        round_["first_unacknowledged"] = {"request": first_unacked, "kind": label,
                                          "outcome": in_flight_outcome(server.url, key_a, label, part)}
        durable = _acknowledged_customers(people, acked, batch_size)
        round_["acknowledged_customers_checked"] = len(durable)
        round_["acknowledged_missing"] = read_back(server.url, key_a, durable)
        _say(f"round {n + 1}: SIGKILL while sending request {kill_at} of {len(batches)} "
             f"({'answered just before' if round_['answered_before_kill'] else 'in flight'}); the client saw "
             f"{failure}; first unacknowledged request ({label}) {round_['first_unacknowledged']['outcome']}; "
             f"{len(round_['acknowledged_missing'])} of {len(durable)} acknowledged customers missing")
        result["rounds"].append(round_)
    acked_final, failure_final = asyncio.run(send_batches(server.url, key_a, batches))
    result["resend"] = {"acknowledged": len(acked_final), "failure": failure_final}
    result["read_back_after_resend"] = read_back(server.url, key_a, people)
    server.stop()
    result["seconds_a"] = round(time.perf_counter() - started, 1)

    clean = Server(b, work / "server-b.log")
    clean.start()
    acked_b, failure_b = asyncio.run(send_batches(clean.url, key_b, batches))
    clean.stop()
    result["clean"] = {"acknowledged": len(acked_b), "failure": failure_b}

    dump_a, dump_b = canonical_dump(a, received_times=True), canonical_dump(b, received_times=True)
    diff = differences(dump_a, dump_b)
    result.update(counts=counts(dump_a), digest_a=digest(dump_a), digest_b=digest(dump_b), differences=diff)
    rounds_ok = all(r["server"] == "killed by SIGKILL" and r["client_saw"] is not None and not r["acknowledged_missing"]
                    and not r["first_unacknowledged"]["outcome"].startswith("PARTLY") for r in result["rounds"])
    result["converged"] = (not diff and rounds_ok and not result["read_back_after_resend"]
                           and failure_final is None and failure_b is None)
    _say(f"server scenario: {'converged' if result['converged'] else 'DID NOT CONVERGE'}")
    return result


# --------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    """A Markdown summary of both scenarios."""
    cli, srv = results["cli"], results["server"]
    m = results["machine"]
    lines = [f"`{results['command']}` on {m['usable_cores']} cores ({m['cpu_model']}), shared with other work.", ""]
    if cli:
        kills = ", ".join(f"after batch {r['batches_committed']} ({r['store_after'].get('Customer', 0):,} customers "
                          "in the store)" for r in cli["killed_runs"])
        lines += [
            f"**cdp import**: {cli['rows']:,} rows ({cli['customers']:,} customers, {cli['csv_mib']} MiB), "
            f"batches of {cli['batch_size']} ({cli['batches']} batches).",
            "",
            "| run | exit | seconds |", "|---|---:|---:|",
            *[f"| killed {r['batches_committed']} batches in | SIGKILL | {r['seconds']} |" for r in cli["killed_runs"]],
            f"| re-run to completion | {cli['rerun']['exit']} | {cli['rerun']['seconds']} |",
            f"| clean import, fresh store | {cli['clean']['exit']} | {cli['clean']['seconds']} |",
            "",
            f"Killed {kills}. Converged: **{'yes' if cli['converged'] else 'no'}** "
            f"(content digest {cli['digest_a'][:12]} vs {cli['digest_b'][:12]}; "
            f"{sum(cli['counts'].values()):,} nodes and relationships compared).", ""]
    if srv:
        kills = "; ".join(
            f"request {r['kill_while_sending']} ({'answered just before' if r['answered_before_kill'] else 'in flight'}"
            f"; first unacknowledged, a {r['first_unacknowledged']['kind']} batch, "
            f"{r['first_unacknowledged']['outcome']}; {r['acknowledged_customers_checked']:,} acknowledged customers "
            f"read back after a {r['restart_seconds']} s restart, {len(r['acknowledged_missing'])} missing)"
            for r in srv["rounds"])
        lines += [
            f"**Server**: {srv['customers']:,} customers as {srv['requests']} partner requests (customers, accounts, "
            f"monetary events; {srv['batch_size']} customers each). SIGKILL while sending {kills}. "
            f"After each restart every batch was re-sent from the first; then all {srv['resend']['acknowledged']} "
            f"acknowledged. Converged with a clean run: **{'yes' if srv['converged'] else 'no'}** "
            f"(digest {srv['digest_a'][:12]} vs {srv['digest_b'][:12]}; {srv['seconds_a']} s for the killed runs).",
            ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=30_000, help="customers in the CSV (CLI scenario)")
    p.add_argument("--batch-size", type=int, default=500, help="rows per cdp import batch")
    p.add_argument("--kills", type=int, default=2, help="killed runs before the run to completion (both scenarios)")
    p.add_argument("--server-customers", type=int, default=5_000, help="customers sent to the server (0: skip)")
    p.add_argument("--server-batch", type=int, default=100, help="customers per partner batch")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=HERE / "out")
    args = p.parse_args(argv)
    from bench import machine

    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": "python bench/import_kill.py " + " ".join(argv or sys.argv[1:]),
                               "machine": machine.facts(), "cli": None, "server": None}
    with tempfile.TemporaryDirectory(prefix="cdp-import-kill-") as tmp:
        work = Path(tmp)
        if args.customers:
            results["cli"] = cli_scenario(work, args.customers, args.batch_size, args.kills, args.seed)
        if args.server_customers:
            results["server"] = server_scenario(work, args.server_customers, args.server_batch, args.kills, args.seed)
    (args.out / "import-kill.json").write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    failed = [name for name in ("cli", "server") if results[name] and not results[name]["converged"]]
    for name in failed:
        _say(f"{name} scenario did not converge: {json.dumps(results[name]['differences'])[:2000]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
