"""Load test: concurrent clients of mixed reads and writes on a real ``cdp serve``, then every
acknowledged write read back (issue 7, ``make loadtest``).

    .venv/bin/python bench/loadtest.py [--clients 50] [--duration 120] [--customers 2000]

1. A fresh temporary store gets ``--customers`` demo customers (``cdp demo load``) and
   one admin API key per client (``cdp.security.api_keys.create_key``, what ``cdp keys create``
   runs); ``cdp serve --no-demo`` starts on a free loopback port with the default rate
   limit, which applies per credential, and the run waits for ``/readyz``.
2. ``--clients`` clients (asyncio + httpx, one connection and one key each, closed loop:
   the next request when the last is answered) send for ``--duration`` seconds a mix of
   customer views (``bench.view_query.VIEW_QUERY``), customer searches (filters, sorting,
   a second page), catalogue reads (products, channels with their contact volume), open
   complaints, and writes: ``upsertContacts``, ``upsertMonetaryEvents``,
   ``upsertCustomers`` (new customers, each followed by ``upsertAccounts``, and phone
   changes of existing ones), ``updateProfile`` (e-mail), ``openComplaint`` and
   ``resolveComplaint``. Requests in flight at the deadline are answered, not dropped.
3. Every write the server acknowledged (HTTP 200, no GraphQL errors, no item errors) is
   read back through the API: contacts, events, new customers and accounts, complaints
   with their status, and for phone and e-mail changes both the value history (every
   acknowledged value is there, from its source) and the value shown (the last write, or
   one of the writes that overlapped it in time). The read-back uses one key and waits
   as the rate limit's ``Retry-After`` says.
4. The server is stopped with SIGTERM (exit 0 expected), and the same read-back runs
   again on a new ``cdp serve`` over the same store (durable, not just cached).

Any HTTP error, GraphQL error, refused item, socket error, lost write, a server that
dies or logs an error, fails the run (exit 1). Writes ``bench/out/loadtest.json`` and
``.md`` and prints the Markdown summary: requests/s, p50/p95/p99 per operation kind,
errors, writes verified, server peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.server import RssSampler, Server, cdp_executable  # noqa: E402
from bench.view_query import VIEW_QUERY  # noqa: E402

SOURCE = "CRM"  # upserts must name a source the profile policy lists (cdp.customers.write_rules)

#: Operation kinds and their share of the requests (writes about a third).
MIX: dict[str, int] = {
    "view": 30, "search": 18, "catalog": 7, "complaints": 5,
    "upsert_contacts": 11, "upsert_events": 7, "new_customer": 5, "change_phone": 5, "update_profile": 6,
    "open_complaint": 4, "resolve_complaint": 2,
}

SEARCH_QUERY = """query CustomerSearch($where: CustomerWhere, $order: CustomerOrder, $after: String) {
  customers(where: $where, orderBy: $order, first: 20, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id name tier status address { city } monthlyRevenue tenureMonths openComplaints } } } }"""
CATALOG_QUERY = """query Catalog { products(first: 100) { totalCount
  edges { node { id name category monthlyPrice lifecycle isBundle } } }
  channels { id name kind costPerContact contactVolume } }"""
COMPLAINTS_QUERY = """query OpenComplaints { complaints(status: [OPEN, ESCALATED], first: 20) {
  totalCount edges { node { id customerId subject status openedAt openHours channel { id } } } } }"""
UPSERT_CONTACTS = """mutation UpsertContacts($items: [ContactInput!]!) {
  upsertContacts(source: "CRM", items: $items) { created updated ids errors { index field message code } } }"""
UPSERT_EVENTS = """mutation UpsertMonetaryEvents($items: [MonetaryEventInput!]!) {
  upsertMonetaryEvents(source: "CRM", items: $items) {
    created updated ids errors { index field message code } } }"""
UPSERT_CUSTOMERS = """mutation UpsertCustomers($items: [CustomerInput!]!) {
  upsertCustomers(source: "CRM", items: $items) { created updated ids errors { index field message code } } }"""
UPSERT_ACCOUNTS = """mutation UpsertAccounts($items: [AccountInput!]!) {
  upsertAccounts(source: "CRM", items: $items) { created updated ids errors { index field message code } } }"""
UPDATE_PROFILE = """mutation UpdateProfile($id: ID!, $changes: [AttributeChange!]!) {
  updateProfile(customerId: $id, changes: $changes) { customer { id email } values { id key value }
    errors { field message code } } }"""
OPEN_COMPLAINT = """mutation OpenComplaint($input: OpenComplaintInput!) {
  openComplaint(input: $input) { id customerId subject status openedAt } }"""
RESOLVE_COMPLAINT = """mutation ResolveComplaint($id: ID!, $satisfaction: Int) {
  resolveComplaint(id: $id, satisfaction: $satisfaction) { id status resolvedAt satisfaction } }"""

VERIFY_CUSTOMER = """query VerifyCustomer($id: ID!, $since: DateTime, $after: String) {
  customer(id: $id) {
    id firstName lastName phone email tier address { city } accounts { id type }
    contacts(first: 100, since: $since, after: $after) {
      pageInfo { hasNextPage endCursor } edges { node { id at kind subject channel { id } } } }
    monetaryHistory(first: 100, since: $since) { totalCount edges { node { id kind amount at accountId } } }
    phones: attributeHistory(key: "phone") { value source }
    emails: attributeHistory(key: "email") { value source customerMaintained } } }"""
VERIFY_COMPLAINT = "c{n}: complaint(id: {id}) {{ id customerId subject status satisfaction resolvedAt }}"

CITIES = ["Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", "Tilburg", "Almere"]
NAME_PARTS = ["de", "van", "Jan", "an", "Bakker", "Vries", "Smit", "el", "ma"]
CONTACT_KINDS = ["INQUIRY", "SERVICE_REQUEST", "PURCHASE", "RETENTION"]


def _say(message: str) -> None:
    print(f"loadtest: {message}", file=sys.stderr, flush=True)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return round(sorted_values[k], 1)


# --------------------------------------------------------------------------- what is known and written


@dataclass
class World:
    """What the clients pick from: the demo store's customers, accounts, channels, products."""

    customers: list[str]
    accounts: dict[str, list[str]]  # customer id -> account ids
    channels: list[str]
    categories: list[str]


@dataclass
class Register:
    """One acknowledged write of a single-valued field: its value and when it was sent and acknowledged."""

    value: str
    sent: float
    acked: float


@dataclass
class Written:
    """Every write the server acknowledged, by kind."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # contact id -> item
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> item (+ customerId)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # new customer id -> item
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # new account id -> item
    phones: dict[str, list[Register]] = field(default_factory=lambda: defaultdict(list))
    emails: dict[str, list[Register]] = field(default_factory=lambda: defaultdict(list))
    complaints: dict[str, dict[str, Any]] = field(default_factory=dict)  # complaint id -> state

    def total(self) -> dict[str, int]:
        return {"contacts": len(self.contacts), "monetary_events": len(self.events),
                "new_customers": len(self.customers), "new_accounts": len(self.accounts),
                "phone_changes": sum(map(len, self.phones.values())),
                "profile_updates": sum(map(len, self.emails.values())),
                "complaints_opened": len(self.complaints),
                "complaints_resolved": sum(1 for c in self.complaints.values() if c["status"] == "RESOLVED")}


@dataclass
class Stats:
    """Latency (ms) and failures per operation kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)

    def failed(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 20:
            self.samples.append(f"{kind}: {what[:1000]}")


# --------------------------------------------------------------------------- one client


class Client:
    """One closed-loop client with its own API key and random stream."""

    def __init__(self, index: int, key: str, url: str, world: World, written: Written, stats: Stats,
                 seed: int, mix: dict[str, int] | None = None) -> None:
        self.index = index
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.url = url + "/graphql"
        self.world = world
        self.written = written
        self.stats = stats
        self.rng = random.Random(seed * 1000 + index)
        self.n = 0
        self.open_complaints: list[str] = []
        self.kinds = list(mix or MIX)
        self.weights = [(mix or MIX)[k] for k in self.kinds]

    def _next(self) -> int:
        self.n += 1
        return self.n

    async def post(self, http: Any, kind: str, query: str, variables: dict[str, Any]) -> tuple[dict | None, float]:
        """Send one operation; record its latency; return (data, send time) or (None, ...) on any failure."""
        import httpx

        body = json.dumps({"query": query, "variables": variables}, separators=(",", ":"))
        sent = time.perf_counter()
        try:
            resp = await http.post(self.url, content=body, headers=self.headers)
        except httpx.HTTPError as exc:
            self.stats.failed(kind, f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.5)  # the server may be gone: do not spin
            return None, sent
        self.stats.latencies[kind].append((time.perf_counter() - sent) * 1000)
        if resp.status_code != 200:
            self.stats.failed(kind, f"HTTP {resp.status_code}: {resp.text}")
            return None, sent
        payload = resp.json()
        if payload.get("errors") or payload.get("data") is None:
            self.stats.failed(kind, json.dumps(payload.get("errors")))
            return None, sent
        return payload["data"], sent

    async def run(self, http: Any, deadline: float, server: Server) -> None:
        """Send operations until ``deadline`` (the one in flight then is answered) or the server is gone."""
        while time.perf_counter() < deadline and server.alive():
            kind = self.rng.choices(self.kinds, self.weights)[0]
            await getattr(self, kind)(http)

    # ---- reads

    def _customer(self) -> str:
        return self.rng.choice(self.world.customers)

    async def view(self, http: Any) -> None:
        await self.post(http, "view", VIEW_QUERY, {"id": self._customer()})

    async def search(self, http: Any) -> None:
        r = self.rng
        where: dict[str, Any] = r.choice([
            {"tier": [r.choice(["CONSUMER", "BUSINESS", "KEY_ACCOUNT"])],
             "holdsCategory": r.choice(self.world.categories)},
            {"city": [r.choice(CITIES)], "status": ["ACTIVE"]},
            {"nameContains": r.choice(NAME_PARTS)},
            {"tenureMonths": {"min": r.randrange(0, 60)}, "monthlySpend": {"min": float(r.randrange(0, 80))}},
            {"accountType": r.choice(["POSTPAID", "PREPAID", "BUSINESS"])},
        ])
        order = {"field": r.choice(["ID", "LAST_NAME", "JOINED_ON", "CITY", "MONTHLY_SPEND"]),
                 "direction": r.choice(["ASC", "DESC"])}
        data, _ = await self.post(http, "search", SEARCH_QUERY, {"where": where, "order": order})
        page = data and data["customers"]["pageInfo"]
        if page and page["hasNextPage"] and r.random() < 0.3:
            await self.post(http, "search", SEARCH_QUERY, {"where": where, "order": order, "after": page["endCursor"]})

    async def catalog(self, http: Any) -> None:
        await self.post(http, "catalog", CATALOG_QUERY, {})

    async def complaints(self, http: Any) -> None:
        await self.post(http, "complaints", COMPLAINTS_QUERY, {})

    # ---- writes

    async def _upsert(self, http: Any, kind: str, query: str, items: list[dict[str, Any]]) -> bool:
        data, _ = await self.post(http, kind, query, {"items": items})
        if data is None:
            return False
        payload = next(iter(data.values()))
        if payload["errors"] or sorted(payload["ids"]) != sorted(i["id"] for i in items):
            self.stats.failed(kind, f"item errors: {payload['errors']}")
            return False
        return True

    def _recently(self) -> datetime:
        return datetime.now(timezone.utc) - timedelta(seconds=self.rng.uniform(0, 30))

    async def upsert_contacts(self, http: Any) -> None:
        items = [{"id": f"LTC-{self.index:02d}-{self._next():06d}", "customerId": self._customer(),
                  "channelId": self.rng.choice(self.world.channels), "at": _iso(self._recently()),
                  "direction": "INBOUND", "kind": self.rng.choice(CONTACT_KINDS), "outcome": "RESOLVED",
                  "subject": f"load test {self.index}-{self.n}"} for _ in range(self.rng.randint(1, 5))]
        if await self._upsert(http, "upsert_contacts", UPSERT_CONTACTS, items):
            for item in items:
                self.written.contacts[item["id"]] = item

    async def upsert_events(self, http: Any) -> None:
        items = []
        for _ in range(self.rng.randint(1, 5)):
            customer = self.rng.choice(self.world.customers)
            accounts = self.world.accounts.get(customer)
            if not accounts:
                continue
            items.append({"id": f"LTE-{self.index:02d}-{self._next():06d}", "accountId": self.rng.choice(accounts),
                          "kind": self.rng.choice(["INVOICE", "PAYMENT", "TOP_UP"]),
                          "amount": round(self.rng.uniform(1, 200), 2), "currency": "EUR",
                          "at": _iso(self._recently()), "description": "load test"})
            items[-1]["customerId"] = customer
        sent = [{k: v for k, v in i.items() if k != "customerId"} for i in items]
        if items and await self._upsert(http, "upsert_events", UPSERT_EVENTS, sent):
            for item in items:
                self.written.events[item["id"]] = item

    async def new_customer(self, http: Any) -> None:
        n = self._next()
        customer = {"id": f"LT-{self.index:02d}-{n:06d}", "firstName": self.rng.choice(["Anna", "Bram", "Sem"]),
                    "lastName": f"Loadtest{self.index}x{n}", "email": f"lt.{self.index}.{n}@loadtest.example",
                    "phone": f"+3197{self.index:02d}{n:06d}", "city": self.rng.choice(CITIES),
                    "tier": "CONSUMER", "status": "ACTIVE", "joinedOn": datetime.now(timezone.utc).date().isoformat()}
        if not await self._upsert(http, "upsert_customers", UPSERT_CUSTOMERS, [customer]):
            return
        self.written.customers[customer["id"]] = customer
        account = {"id": f"LTA-{self.index:02d}-{n:06d}", "customerId": customer["id"], "type": "PREPAID",
                   "status": "ACTIVE", "paymentMethod": "CARD"}
        if await self._upsert(http, "upsert_accounts", UPSERT_ACCOUNTS, [account]):
            self.written.accounts[account["id"]] = account

    async def change_phone(self, http: Any) -> None:
        customer = self._customer()
        phone = f"+3198{self.index:02d}{self._next():06d}"
        data, sent = await self.post(http, "change_phone", UPSERT_CUSTOMERS,
                                     {"items": [{"id": customer, "phone": phone}]})
        if data is None:
            return
        if data["upsertCustomers"]["errors"]:
            self.stats.failed("change_phone", f"item errors: {data['upsertCustomers']['errors']}")
            return
        self.written.phones[customer].append(Register(phone, sent, time.perf_counter()))

    async def update_profile(self, http: Any) -> None:
        customer = self._customer()
        email = f"self.{self.index}.{self._next()}@loadtest.example"
        data, sent = await self.post(http, "update_profile", UPDATE_PROFILE,
                                     {"id": customer, "changes": [{"key": "email", "value": email}]})
        if data is None:
            return
        if data["updateProfile"]["errors"]:
            self.stats.failed("update_profile", f"item errors: {data['updateProfile']['errors']}")
            return
        self.written.emails[customer].append(Register(email, sent, time.perf_counter()))

    async def open_complaint(self, http: Any) -> None:
        customer = self._customer()
        subject = f"load test complaint {self.index}-{self._next()}"
        data, _ = await self.post(http, "open_complaint", OPEN_COMPLAINT, {"input": {
            "customerId": customer, "subject": subject, "channelId": self.rng.choice(self.world.channels)}})
        if data is None:
            return
        complaint = data["openComplaint"]
        self.written.complaints[complaint["id"]] = {"customerId": customer, "subject": subject, "status": "OPEN",
                                                    "satisfaction": None}
        self.open_complaints.append(complaint["id"])

    async def resolve_complaint(self, http: Any) -> None:
        if not self.open_complaints:
            await self.open_complaint(http)
            return
        complaint = self.open_complaints.pop(self.rng.randrange(len(self.open_complaints)))
        satisfaction = self.rng.randint(1, 5)
        data, _ = await self.post(http, "resolve_complaint", RESOLVE_COMPLAINT,
                                  {"id": complaint, "satisfaction": satisfaction})
        if data is not None:
            self.written.complaints[complaint].update(status="RESOLVED", satisfaction=satisfaction)


# --------------------------------------------------------------------------- read-back


def shown_candidates(writes: list[Register]) -> set[str]:
    """Values the field may show after ``writes``: those no later-sent write followed.

    A write acknowledged before another was sent must have been overwritten by it;
    writes that overlapped in time may have been applied in either order.
    """
    return {w.value for w in writes if not any(o.sent > w.acked for o in writes)}


async def verify(url: str, key: str, written: Written, world: World, concurrency: int = 8) -> dict[str, Any]:
    """Read back every acknowledged write through the API; return counts verified and the problems found."""
    import httpx

    problems: list[str] = []
    verified: dict[str, int] = defaultdict(int)
    by_customer: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for c in written.contacts.values():
        by_customer[c["customerId"]]["contacts"].append(c)
    for e in written.events.values():
        by_customer[e["customerId"]]["events"].append(e)
    for cid in written.customers:
        by_customer[cid]["new"].append(written.customers[cid])
    for a in written.accounts.values():
        by_customer[a["customerId"]]["accounts"].append(a)
    for cid in written.phones:
        by_customer[cid]["phones"] = written.phones[cid]
    for cid in written.emails:
        by_customer[cid]["emails"] = written.emails[cid]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    slots = asyncio.Semaphore(concurrency)

    async def ask(http: Any, query: str, variables: dict[str, Any]) -> dict | None:
        body_text = json.dumps({"query": query, "variables": variables})
        for _ in range(30):  # one key: wait as the rate limit's Retry-After says
            async with slots:
                resp = await http.post(url + "/graphql", headers=headers, content=body_text)
            if resp.status_code != 429:
                break
            verified["rate_limited_retries"] += 1
            await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
        body = resp.json() if resp.status_code == 200 else {"errors": [resp.text[:300]]}
        if body.get("errors"):
            problems.append(f"read-back {variables}: {str(body['errors'])[:300]}")
            return None
        return body["data"]

    async def one(http: Any, cid: str, wrote: dict[str, list]) -> None:
        times = [_time(i["at"]) for i in wrote["contacts"] + wrote["events"]]
        since = _iso(min(times) - timedelta(seconds=1)) if times else _iso(datetime.now(timezone.utc))
        data = await ask(http, VERIFY_CUSTOMER, {"id": cid, "since": since})
        node = data and data["customer"]
        if node is None:
            if data is not None:
                problems.append(f"customer {cid} not found")
            return
        contacts = [e["node"] for e in node["contacts"]["edges"]]
        page = node["contacts"]["pageInfo"]
        while wrote["contacts"] and page["hasNextPage"]:
            more = await ask(http, VERIFY_CUSTOMER, {"id": cid, "since": since, "after": page["endCursor"]})
            if not more:
                return
            contacts += [e["node"] for e in more["customer"]["contacts"]["edges"]]
            page = more["customer"]["contacts"]["pageInfo"]
        found = {c["id"]: c for c in contacts}
        for c in wrote["contacts"]:
            got = found.get(c["id"])
            if got is None or (got["kind"], got["subject"], got["channel"]["id"], _time(got["at"])) != (
                    c["kind"], c["subject"], c["channelId"], _time(c["at"])):
                problems.append(f"contact {c['id']} of {cid}: wrote {c}, read {got}")
            else:
                verified["contacts"] += 1
        events = {x["node"]["id"]: x["node"] for x in node["monetaryHistory"]["edges"]}
        for e in wrote["events"]:
            got = events.get(e["id"])
            if got is None and len(node["monetaryHistory"]["edges"]) == 100:
                problems.append(f"event {e['id']} of {cid}: not among the 100 newest (cannot check)")
            elif got is None or (got["kind"], got["amount"], got["accountId"], _time(got["at"])) != (
                    e["kind"], e["amount"], e["accountId"], _time(e["at"])):
                problems.append(f"event {e['id']} of {cid}: wrote {e}, read {got}")
            else:
                verified["monetary_events"] += 1
        for c in wrote["new"]:
            if (node["firstName"], node["lastName"], node["tier"]) != (c["firstName"], c["lastName"], c["tier"]):
                problems.append(f"new customer {cid}: wrote {c}, read {node}")
            else:
                verified["new_customers"] += 1
        accounts = {a["id"]: a["type"] for a in node["accounts"]}
        for a in wrote["accounts"]:
            if accounts.get(a["id"]) != a["type"]:
                problems.append(f"account {a['id']} of {cid}: wrote {a}, read {node['accounts']}")
            else:
                verified["new_accounts"] += 1
        for field_name, history, source, kind in (("phone", "phones", SOURCE, "phone_changes"),
                                                  ("email", "emails", "CUSTOMER", "profile_updates")):
            writes = wrote[history]
            if not writes:
                continue
            recorded = {(v["value"], v["source"]) for v in node[history]}
            lost = [w.value for w in writes if (w.value, source) not in recorded]
            if lost:
                problems.append(f"{field_name} of {cid}: acknowledged values missing from its history: {lost}")
            shown = node[field_name]
            if shown not in shown_candidates(writes):
                problems.append(f"{field_name} of {cid} shows {shown!r}; the last acknowledged write(s): "
                                f"{sorted(shown_candidates(writes))} (all: {[w.value for w in writes]})")
            if not lost and shown in shown_candidates(writes):
                verified[kind] += len(writes)

    async def complaints(http: Any, ids: list[str]) -> None:
        query = "query VerifyComplaints {" + " ".join(
            VERIFY_COMPLAINT.format(n=n, id=json.dumps(i)) for n, i in enumerate(ids)) + "}"
        data = await ask(http, query, {})
        if data is None:
            return
        for n, cid in enumerate(ids):
            got, want = data[f"c{n}"], written.complaints[cid]
            if got is None or (got["customerId"], got["subject"], got["status"], got["satisfaction"]) != (
                    want["customerId"], want["subject"], want["status"], want["satisfaction"]):
                problems.append(f"complaint {cid}: wrote {want}, read {got}")
            else:
                verified["complaints"] += 1

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        ids = sorted(written.complaints)
        await asyncio.gather(*(one(http, cid, wrote) for cid, wrote in by_customer.items()),
                             *(complaints(http, ids[i:i + 25]) for i in range(0, len(ids), 25)))
    retries = verified.pop("rate_limited_retries", 0)
    return {"seconds": round(time.perf_counter() - started, 1), "customers_read": len(by_customer),
            "verified": dict(verified), "rate_limited_retries": retries, "problems": problems}


# --------------------------------------------------------------------------- setup and the run


def prepare_store(db: Path, customers: int, clients: int, demo_from: Path | None) -> tuple[World, list[str], float]:
    """Load demo data into a new store at ``db``, create one admin key per client (and one for the
    read-back); return what the clients pick from, the keys and the seconds the load took."""
    env = {**os.environ, "CDP_DB_PATH": str(db)}
    env.pop("NEO4J_URI", None)
    cmd = [cdp_executable(), "demo", "load"] + (["--from", str(demo_from)] if demo_from else
                                                ["--customers", str(customers)])
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    load_seconds = time.perf_counter() - started
    from cdp.security.api_keys import create_key
    from graph.ladybug_store import LadybugStore

    store = LadybugStore(db, buffer_pool_mb=256)
    try:
        keys = [create_key(store, f"loadtest client {i}", "admin")[1] for i in range(clients + 1)]
        status = dict(zip(*store.export_nodes("Customer").select(["id", "status"]).to_pydict().values()))
        holds = store.export_relationships("HOLDS").select(["from", "to"]).to_pydict()
        channels = sorted(store.channels())
        categories = sorted({p.get("category") for p in store.products().values()} - {None})
    finally:
        store.close()
    accounts: dict[str, list[str]] = defaultdict(list)
    for customer, account in zip(holds["from"], holds["to"]):
        accounts[customer].append(account)
    world = World(sorted(c for c, s in status.items() if s != "MERGED"), dict(accounts), channels,
                  [c for c in categories if c != "DEVICE"])
    return world, keys, load_seconds


async def drive(server: Server, world: World, keys: list[str], duration: float, seed: int,
                written: Written, stats: Stats, rss_timeline: list[tuple[int, int]],
                mix: dict[str, int] | None = None) -> float:
    """Run one client per key for ``duration`` seconds; return the seconds the run took.

    Appends (second, server RSS MiB) to ``rss_timeline`` every 10 s.
    """
    import httpx

    limits = httpx.Limits(max_connections=len(keys), max_keepalive_connections=len(keys))
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        clients = [Client(i, key, server.url, world, written, stats, seed, mix) for i, key in enumerate(keys)]
        warm = Stats()
        for kind in ("view", "search", "catalog", "complaints"):  # first requests build caches and the projection
            await getattr(Client(99, keys[0], server.url, world, Written(), warm, seed), kind)(http)
        if warm.errors:
            stats.samples += warm.samples
            stats.errors["warm-up"] += sum(warm.errors.values())
        started = time.perf_counter()

        def note_rss() -> None:
            if server.alive():
                rss_timeline.append((round(time.perf_counter() - started),
                                     round((server.memory_kib()["rss_kib"] or 0) / 1024)))

        async def sample_rss() -> None:  # the server's resident memory every 10 s of the run
            while True:
                note_rss()
                await asyncio.sleep(10)

        sampler = asyncio.create_task(sample_rss())
        await asyncio.gather(*(c.run(http, started + duration, server) for c in clients))
        sampler.cancel()
        note_rss()
        return time.perf_counter() - started


def summary(stats: Stats, seconds: float) -> dict[str, Any]:
    """Requests, requests/s and latency percentiles per kind and in total."""
    out = {}
    everything: list[float] = []
    for kind in sorted(stats.latencies, key=lambda k: -len(stats.latencies[k])):
        lat = sorted(stats.latencies[kind])
        everything += lat
        out[kind] = {"requests": len(lat), "errors": stats.errors.get(kind, 0),
                     "p50_ms": _percentile(lat, 50), "p95_ms": _percentile(lat, 95), "p99_ms": _percentile(lat, 99),
                     "max_ms": round(lat[-1], 1) if lat else None}
    everything.sort()
    total = {"requests": len(everything), "requests_per_second": round(len(everything) / seconds, 1),
             "errors": sum(stats.errors.values()), "p50_ms": _percentile(everything, 50),
             "p95_ms": _percentile(everything, 95), "p99_ms": _percentile(everything, 99)}
    return {"total": total, "per_kind": out}


def server_log_errors(path: Path) -> list[str]:
    """Lines of the server's log at level ERROR or above (or a traceback)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            level = json.loads(line).get("level")
        except ValueError:
            level = "ERROR" if "Traceback" in line else None
        if level in ("ERROR", "CRITICAL"):
            out.append(line[:2000])
    return out


def markdown(r: dict[str, Any]) -> str:
    """The run as Markdown: setup line, per-kind table, writes and verdict."""
    m, t = r["machine"], r["load"]["total"]
    lines = [
        f"`{r['command']}`: {r['clients']} clients (one admin key each, rate limit "
        f"{r['rate_limit']}/s per key), {r['seconds']:.0f} s, {r['customers']:,} demo customers; "
        f"loopback, {m['usable_cores']} cores ({m['cpu_model']}) shared with the load clients and other work "
        f"(load average {r['load_average_before'][0]:.1f} before, {r['load_average_after'][1]:.1f} over the last "
        "5 minutes after).",
        "",
        "| operation | requests | errors | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, k in r["load"]["per_kind"].items():
        lines.append(f"| {kind} | {k['requests']:,} | {k['errors']} | {k['p50_ms']} | {k['p95_ms']} | "
                     f"{k['p99_ms']} | {k['max_ms']} |")
    lines.append(f"| **all** | **{t['requests']:,}** | **{t['errors']}** | {t['p50_ms']} | {t['p95_ms']} | "
                 f"{t['p99_ms']} | |")
    v = r["verify"]
    acked, checked = r["acknowledged"], v["verified"]
    lines += [
        "",
        f"{t['requests_per_second']} requests/s. Server peak RSS {r['server']['peak_rss_mib']} MiB, "
        f"CPU {r['server']['cpu_seconds']} s (load clients {r['server']['load_client_cpu_seconds']} s); "
        f"RSS MiB at (s): {', '.join(f'{m} ({t})' for t, m in r['server']['rss_mib_timeline'][::3])}; "
        f"exit status {r['server']['exit_status']} ({r['server']['stopped_by']}); "
        f"{len(r['server']['log_errors'])} error lines in its log.",
        "",
        "| acknowledged writes | count | read back as written |", "|---|---:|---:|",
        *[f"| {kind} | {n:,} | {checked.get(kind if kind != 'complaints_opened' else 'complaints', 0):,} |"
          for kind, n in acked.items() if kind != "complaints_resolved"],
        "",
        f"Read-back: {v['customers_read']:,} customers and {acked['complaints_opened']:,} complaints "
        f"({acked['complaints_resolved']:,} resolved) in {v['seconds']} s; {len(v['problems'])} problems; "
        f"again after a restart: {len(r['verify_after_restart']['problems'])} problems. "
        f"Verdict: **{'pass' if r['passed'] else 'FAIL'}**.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=120, help="seconds of load")
    p.add_argument("--customers", type=int, default=2000, help="demo customers loaded into the fresh store")
    p.add_argument("--demo-from", type=Path, help="load the demo data from a `cdp demo generate` folder instead")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--only", help="comma-separated operation kinds to send (default: the whole mix), "
                                  f"among {', '.join(MIX)}")
    p.add_argument("--stop", choices=["term", "kill"], default="term",
                   help="stop the server with SIGTERM (exit 0 expected) or SIGKILL before the second read-back")
    p.add_argument("--keep", type=Path, help="keep the store and the server logs in this folder (must not exist)")
    p.add_argument("--out", type=Path, default=HERE / "out")
    args = p.parse_args(argv)
    mix = None
    if args.only:
        unknown = set(args.only.split(",")) - set(MIX)
        if unknown:
            p.error(f"--only: unknown kinds {sorted(unknown)}")
        mix = {k: MIX[k] for k in args.only.split(",")}
    from bench import machine
    from cdp.settings import Settings

    args.out.mkdir(parents=True, exist_ok=True)
    defaults = Settings()
    # the default rate limit, per credential (each client has its own key)
    os.environ["CDP_RATE_LIMIT"], os.environ["CDP_RATE_BURST"] = f"{defaults.rate_limit:g}", str(defaults.rate_burst)
    result: dict[str, Any] = {
        "command": "python bench/loadtest.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "clients": args.clients, "seconds": args.duration, "customers": args.customers, "mix": mix or MIX,
        "rate_limit": defaults.rate_limit, "machine": machine.facts(), "load_average_before": os.getloadavg()}
    if args.keep:
        args.keep.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="cdp-loadtest-") as scratch:
        tmp = str(args.keep or scratch)
        db = Path(tmp) / "store.lbdb"
        _say(f"loading {args.customers:,} demo customers and creating {args.clients + 1} API keys")
        world, keys, load_seconds = prepare_store(db, args.customers, args.clients, args.demo_from)
        result["customers"] = len(world.customers)
        server = Server(db, Path(tmp) / "server.log")
        result["ready_seconds"] = round(server.start(), 1)
        _say(f"cdp serve ready on {server.url} in {result['ready_seconds']} s (demo load {load_seconds:.1f} s); "
             f"{args.clients} clients for {args.duration:g} s")
        written, stats = Written(), Stats()
        cpu_before = server.cpu_seconds() or 0.0
        with RssSampler(server.pid) as rss:
            before = resource.getrusage(resource.RUSAGE_SELF)
            rss_timeline: list[tuple[int, int]] = []
            seconds = asyncio.run(drive(server, world, keys[1:], args.duration, args.seed, written, stats,
                                        rss_timeline, mix))
            after = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            result["seconds"] = round(seconds, 1)
            result["load"] = summary(stats, seconds)
            result["error_samples"] = stats.samples
            result["acknowledged"] = written.total()
            _say(f"{result['load']['total']['requests']:,} requests ({result['load']['total']['requests_per_second']}"
                 f"/s), {result['load']['total']['errors']} errors; reading back {sum(written.total().values()):,} "
                 "acknowledged writes")
            alive = server.alive()
            result["verify"] = asyncio.run(verify(server.url, keys[0], written, world)) if alive else {
                "seconds": 0, "customers_read": 0, "verified": {}, "problems": ["the server died during the run"]}
        cpu = (server.cpu_seconds() or 0.0) - cpu_before
        if args.stop == "kill" and server.alive():
            server.process.kill()  # type: ignore[union-attr]
            server.process.wait()  # type: ignore[union-attr]
        exit_status = server.stop()
        log_errors = server_log_errors(server.log_path)
        # Durable too: the same read-back on a new server over the same store after the stop.
        again = Server(db, Path(tmp) / "server-restarted.log")
        again.start()
        _say(f"read back again after a restart ({'SIGKILL' if args.stop == 'kill' else 'SIGTERM'}, then cdp serve "
             "on the same store)")
        result["verify_after_restart"] = asyncio.run(verify(again.url, keys[0], written, world))
        again.stop()
        log_errors += server_log_errors(again.log_path)
        result["server"] = {"peak_rss_mib": round(rss.hwm_kib / 1024), "rss_mib_timeline": rss_timeline,
                            "cpu_seconds": round(cpu, 1),
                            "load_client_cpu_seconds": round(client_cpu, 1), "exit_status": exit_status,
                            "stopped_by": "SIGKILL" if args.stop == "kill" else "SIGTERM",
                            "alive_after_load": alive, "log_errors": log_errors[:20]}
    result["load_average_after"] = os.getloadavg()  # 1, 5, 15 min: other work on the same cores
    expected_exit = 0 if args.stop == "term" else -9
    result["passed"] = (result["load"]["total"]["errors"] == 0 and not result["verify"]["problems"] and alive
                        and not result["verify_after_restart"]["problems"] and exit_status == expected_exit
                        and not result["server"]["log_errors"])
    text = markdown(result)
    (args.out / "loadtest.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out / "loadtest.md").write_text(text)
    print(text)
    for line in (result["error_samples"] + result["verify"]["problems"] + result["verify_after_restart"]["problems"]
                 + result["server"]["log_errors"])[:30]:
        _say(line)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
