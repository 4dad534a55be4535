"""The ``cdp`` command line.

    cdp serve [--host H] [--port P] [--no-demo] [--workers N]
                                                   serve the API (loads demo data into an empty store)
    cdp demo generate --customers N --out DIR      write seeded demo data as Parquet
    cdp demo load [--customers N | --from DIR]     load demo data into the configured store
    cdp schema export [--out FILE] [--check]       print / write / check the GraphQL SDL
    cdp stats                                      count nodes and relationships in the store
    cdp import --mapping M.toml FILE [--batch-size N] [--rejects PATH]
                                                   import a source system's file (docs/import.md)
    cdp train [churn|lifetime_value|repeat_purchase|propensity|all] [--as-of DATE]
                                       train predictive models (as of DATE), print their cards
    cdp keys create --role R --name N [--scope S ...] [--operations OP ...] [--customer ID] [--expires DATE]
                                                   create an API key; prints the key (shown once)
    cdp keys list | cdp keys revoke KEY_ID [--last-admin]
                                                   list keys (never their secrets) / revoke one
    cdp audit [--customer ID] [--principal P] [--action A] [--since T] [--limit N]
                                                   print audit records, newest first (docs/security.md)
    cdp privacy export ID [--out FILE] | cdp privacy erase ID
                                                   everything held about a person / erase them (docs/privacy.md)

    cdp init                                       create an empty store (CDP_DB_PATH or NEO4J_URI)

Every failure the user can fix is printed as ``cdp: error: <message>``, no traceback,
with the exit status of its kind (``cdp.cli.exit_status``; the table is in docs/cli.md).
Commands that only read open an embedded store held by a running server read-only;
the others name what to do instead (``cdp.cli.command_store``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cdp.cli import exit_status
from cdp.security.audit import AuditLog
from cdp.formats.display_format import iso
from cdp.errors import (CdpError, Conflict, InvalidInput, NotConfirmed, PortInUse, StoreLocked, StoreUnavailable,
                        Unauthenticated)
from cdp.cli.exit_status import ExitStatus
from cdp.security.principal import cli_principal
from cdp.cli.progress_report import Progress
from cdp.ops.request_log import configure_logging
from cdp.settings import Settings
from graph.clock import naive_utc, utc_now, utc_today

# Each command imports the modules it runs inside its function: the store drivers, pandas,
# scikit-learn and the GraphQL schema take seconds to load, and ``cdp --help`` or a command
# that needs none of them should not wait for them. Only light modules are imported above.

if TYPE_CHECKING:
    from tqdm import tqdm

    from cdp.demo.telecom import DemoData
    from graph.store import GraphStore


def _progress_bar(total: int | None, desc: str, unit: str = "rows") -> tqdm:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                disable=None, dynamic_ncols=True)


def _generate(customers: int, seed: int) -> DemoData:
    from cdp.demo import telecom as demo

    bar = Progress(f"generating {customers:,} demo customers", unit="rows")

    def progress(step: str, rows_so_far: int) -> None:
        # demo.generate reports the running total, not the rows of the stage.
        bar.update(rows_so_far - bar.n)
        if step != "done":  # close() says done
            bar.stage(f"{step} generated")

    try:
        # Dated as of today, so "the last 90 days" of the docs' examples hold the demo's recent
        # activity (ongoing complaints, the latest campaign) whenever the demo is loaded.
        data = demo.generate(customers, seed=seed, as_of=utc_today(), progress=progress)
    finally:
        bar.close()
    return data


def load_demo(settings: Settings, customers: int, seed: int, source: Path | None = None) -> dict:
    """Generate (or read from ``source``) demo data and bulk-load it into the store.

    Returns a summary with row counts and rows/s. Raises ``Conflict`` when the
    store already holds data, ``InvalidInput`` for an unreadable ``source``.
    """
    from cdp.demo import telecom as demo
    from cdp.cli.command_store import open_for

    store = open_for(settings, "create", command="cdp demo load")
    try:
        if not store.is_empty() and not store.bulk_load_unfinished():  # an unfinished load resumes
            raise Conflict(
                f"the store at {settings.db_path if settings.backend == 'ladybug' else settings.neo4j_uri} "
                "already holds data; remove it first (embedded: delete the file) to reload")
        data = demo.read_parquet(source) if source else _generate(customers, seed)
        total = data.row_count()
        bar = Progress("loading", total)
        started = time.perf_counter()
        try:
            def progress(step: str, n: int) -> None:
                bar.update(n)
                bar.stage(f"{step} loaded")

            store.bulk_load(data.nodes, data.relationships, progress=progress)
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        return {"rows": total, "seconds": round(seconds, 2), "rows_per_second": round(total / seconds)}
    finally:
        store.close()


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from cdp.app import build_app

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    if args.workers > 1:
        from cdp.cli.serve_workers import worker_environment

        worker_environment(settings, args.workers)  # refuses the embedded store before anything starts
    _check_port(settings.host, settings.port)  # before minutes of demo loading, not after
    if not args.no_demo:
        store = _open(args, settings)
        empty = store.is_empty()
        store.close()
        if empty:
            print(f"cdp: first run: loading {settings.demo_customers:,} demo customers", file=sys.stderr)
            summary = load_demo(settings, settings.demo_customers, settings.demo_seed)
            print(f"cdp: loaded {summary['rows']:,} rows in {summary['seconds']} s", file=sys.stderr)
    if args.dev_key:
        key = _development_key(settings)
        print(f"cdp: development key (admin; send as 'Authorization: Bearer <key>' or in the playground's "
              f"Headers tab as {{\"Authorization\": \"Bearer <key>\"}}):\n\n    {key}\n", file=sys.stderr)
    elif not settings.jwt_issuer and not _has_usable_key(settings):
        print("cdp: warning: this store has no usable API key and no JWT issuer is set (CDP_JWT_ISSUER), "
              "so every request will be refused with 401. To get a key: "
              + ("stop the server and run " if settings.backend == "ladybug" else "run ")
              + "`cdp keys create --role admin --name <you>` (it prints the key once), or restart with "
              "`cdp serve --dev-key` (prints an admin key for development)", file=sys.stderr)
    from cdp.transport.http_connection import protocol_with_header_timeout

    configure_logging(settings.log_format, args.log_level)
    if args.workers > 1:
        from cdp.cli import serve_workers

        serve_workers.prepare(settings, args.workers, args.log_level)
        print(f"cdp: serving http://{settings.host}:{settings.port}/graphql ({settings.backend} store, "
              f"{args.workers} worker processes)", file=sys.stderr)
        # uvicorn's supervisor: SIGTERM / SIGINT stop the workers gracefully, as below
        uvicorn.run("cdp.cli.serve_workers:app", factory=True, workers=args.workers, host=settings.host,
                    port=settings.port, log_level=args.log_level, log_config=None, access_log=False,
                    timeout_graceful_shutdown=settings.shutdown_grace_seconds)
        return 0
    app = build_app(settings)
    print(f"cdp: serving http://{settings.host}:{settings.port}/graphql ({settings.backend} store)",
          file=sys.stderr)
    server = uvicorn.Server(uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=args.log_level, log_config=None,
        access_log=False,  # cdp.access writes one line per request, with its id
        http=protocol_with_header_timeout(settings.header_timeout),  # slow or half-sent headers: 408, closed
        timeout_graceful_shutdown=settings.shutdown_grace_seconds))
    # SIGTERM / SIGINT: uvicorn stops accepting, lets in-flight requests finish (at most
    # CDP_SHUTDOWN_GRACE_SECONDS), then the app closes the store. uvicorn raises the signal
    # again once done; these handlers take it, so a graceful stop exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, server.handle_exit)
    server.run()
    if not server.started:
        print("cdp: error: the server did not start (see the log above)", file=sys.stderr)
        return ExitStatus.PORT_IN_USE
    return 0


def _check_port(host: str, port: int) -> None:
    """Raise ``PortInUse`` when ``host``:``port`` cannot be listened on (another server holds it,
    or the address is not this machine's); the probe socket is closed at once."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}; set --host or CDP_HOST") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind(address)
        except OSError as exc:
            what = "is in use (another `cdp serve`?)" if exc.errno == errno.EADDRINUSE else f"is not available: {exc.strerror}"
            raise PortInUse(f"{host}:{port} {what}; pick another with --port or CDP_PORT") from None


def _has_usable_key(settings: Settings) -> bool:
    """Whether the store holds an API key that is neither revoked nor expired. A Neo4j server
    that does not answer yet counts as yes: ``cdp serve`` starts anyway and waits for it
    (docs/operations.md), and the warning this check feeds would be a guess."""
    from cdp.security import api_keys
    from cdp.cli.command_store import open_for

    try:
        store = open_for(settings, "create", command="cdp serve")
    except StoreUnavailable:
        if settings.backend == "neo4j":
            return True
        raise
    try:
        now = utc_now()
        return any(key.usable_at(now) for key in api_keys.list_keys(store))
    finally:
        store.close()


def _development_key(settings: Settings) -> str:
    """The development key ``cdp serve --dev-key`` prints: the one kept in ``settings.dev_key_path``
    while it still works, else a new admin key (written there, readable by the owner only)."""
    from cdp.security.api_keys import KeyVerifier, create_key
    from cdp.cli.command_store import open_for

    path = settings.dev_key_path
    store = open_for(settings, "create", command="cdp serve --dev-key")
    try:
        if path.exists():
            text = path.read_text().strip()
            try:
                KeyVerifier(store).verify(text)
                return text
            except Unauthenticated:
                pass  # revoked, or the store was replaced: make a new one
        _, text = create_key(store, "development (cdp serve --dev-key)", "admin")
    finally:
        store.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text + "\n")
    return text


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime

    from cdp.security import api_keys

    if args.action == "create":
        expires = None
        if args.expires:
            try:
                expires = datetime.fromisoformat(args.expires)
            except ValueError:
                raise InvalidInput(f"--expires: expected an ISO date or time, got {args.expires!r}") from None
            expires = naive_utc(expires)
    try:
        store = _open(args, settings)
    except StoreLocked:
        if args.action != "create":
            raise
        from cdp.cli import server_keys

        made = server_keys.create_key(settings, args.name, args.role, args.scope or [], args.operations or [],
                                      args.customer, expires)
        if made is None:
            raise
        print(made["key"])
        print(f"cdp: created {made['apiKey']['role']} key {made['apiKey']['id']} for {made['apiKey']['name']!r} "
              f"through the server at {settings.host}:{settings.port} (it holds the store); the key is shown "
              "only now", file=sys.stderr)
        return 0
    audit = AuditLog(settings.audit_log_path)
    try:
        if args.action == "create":
            key, text = api_keys.create_key(store, args.name, args.role, scopes=args.scope or (),
                                            operations=args.operations or (), customer_id=args.customer,
                                            expires_at=expires)
            audit.record(cli_principal(), "key_created", "keys create",
                         customers=[key.customer_id] if key.customer_id else [])
            print(text)
            print(f"cdp: created {key.role.value} key {key.id} for {key.name!r}; the key is shown only now",
                  file=sys.stderr)
        elif args.action == "list":
            for key in api_keys.list_keys(store):
                state = "revoked" if key.revoked_at else "expired" if not key.usable_at(utc_now()) \
                    else "active"
                extra = " ".join(filter(None, [
                    f"scopes={','.join(key.scopes)}" if key.scopes else "",
                    f"operations={','.join(key.operations)}" if key.operations else "",
                    f"customer={key.customer_id}" if key.customer_id else "",
                    f"expires={iso(key.expires_at)}" if key.expires_at else ""]))
                created = iso(key.created_at) if key.created_at else "-"
                print(f"{key.id}\t{key.role.value}\t{state}\t{created}\t{key.name}"
                      + (f"\t{extra}" if extra else ""))
        else:
            _confirm(args, f"Revoke key {args.key}? Clients using it are refused from then on; this cannot "
                           "be undone.")
            key = api_keys.revoke_key(store, args.key, allow_last_admin=args.last_admin)
            audit.record(cli_principal(), "key_revoked", "keys revoke")
            print(f"cdp: revoked key {key.id} ({key.name!r}) at {iso(key.revoked_at) if key.revoked_at else '-'}",
                  file=sys.stderr)
    finally:
        store.close()
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from dataclasses import asdict

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise InvalidInput(f"--since: expected an ISO date or time, got {args.since!r}") from None
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    records = AuditLog(settings.audit_log_path).read(customer_id=args.customer, principal=args.principal,
                                                      action=args.action, since=since, limit=args.limit)
    for record in records:
        print(json.dumps(asdict(record)))
    return 0


def _cmd_demo_generate(args: argparse.Namespace, settings: Settings) -> int:
    from cdp.demo import telecom as demo

    data = _generate(args.customers, args.seed)
    demo.write_parquet(data, Path(args.out))
    print(f"cdp: wrote {data.row_count():,} rows to {args.out}", file=sys.stderr)
    return 0


def _cmd_demo_load(args: argparse.Namespace, settings: Settings) -> int:
    summary = load_demo(settings, args.customers, args.seed, Path(args.source) if args.source else None)
    print(f"cdp: loaded {summary['rows']:,} rows in {summary['seconds']} s "
          f"({summary['rows_per_second']:,} rows/s)", file=sys.stderr)
    return 0


#: Exit status of ``cdp import`` when some rows were rejected (the rest were imported).
EXIT_REJECTED = ExitStatus.REJECTED_ROWS


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from cdp.ingest import run as ingest
    from cdp.ingest.mapping import load_mapping
    from cdp.ingest.read import DEFAULT_BATCH_SIZE, open_source
    from cdp.customers.write_rules import WriteRules

    mapping = load_mapping(args.mapping)
    data = Path(args.file)
    batch_size = args.batch_size  # None: the store's (LadybugDB 1,000,000 rows, Neo4j 50,000)
    open_source(mapping, data, batch_size or DEFAULT_BATCH_SIZE).close()  # fail before opening the store
    rejects = Path(args.rejects) if args.rejects else Path(f"{data.stem}.rejects.csv")
    bar = _progress_bar(None, f"importing {data.name}")

    def progress(report: ingest.ImportReport) -> None:
        if report.total and bar.total is None:
            bar.total = report.total
        if report.writing:  # a batch read and checked, now being written (one transaction)
            bar.set_postfix_str(f"writing batch {report.batches + 1} ({report.writing:,} rows)")
            return
        bar.set_postfix(created=report.created, updated=report.updated, rejected=report.rejected, refresh=False)
        bar.update(report.read - bar.n)
        if bar.disable and report.batches:  # not a terminal: one line per committed batch
            print(f"cdp: import: batch {report.batches} written: {report.read:,} rows read, "
                  f"{report.rejected:,} rejected ({report.rows_per_second:,.0f} rows/s)", file=sys.stderr, flush=True)

    store = _open(args, settings)
    try:
        report = ingest.import_file(store, mapping, data, batch_size, rejects, progress, WriteRules.of(settings))
    finally:
        bar.close()
        store.close()
    for warning in report.warnings:
        print(f"cdp: warning: {warning}", file=sys.stderr)
    for finding in report.signal:  # signal a model could have used, lost by the mapping (docs/import.md)
        print(f"cdp: signal: {finding}", file=sys.stderr)
    print(f"imported {data} ({report.source}) in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s): "
          f"{report.read:,} rows read, {report.imported:,} imported, {report.rejected:,} rejected")
    width = max([18, *(len(name) + 2 for name in report.items)])
    print(f"{'':<{width}}{'created':>10}{'updated':>10}{'unchanged':>11}{'rejected':>10}")
    for name, c in report.items.items():
        print(f"{name:<{width}}{c.created:>10,}{c.updated:>10,}{c.unchanged:>11,}{c.rejected:>10,}")
    if report.rejected:
        print(f"cdp: {report.rejected:,} rows rejected; see {report.rejects_path}", file=sys.stderr)
        return EXIT_REJECTED
    return 0


def _cmd_schema_export(args: argparse.Namespace, settings: Settings) -> int:
    from schema import SDL_PATH, sdl

    text = sdl()
    if args.check:
        target = Path(args.out) if args.out else SDL_PATH
        current = target.read_text() if target.exists() else ""
        if current != text:
            print(f"cdp: error: {target} is out of date; run `cdp schema export --out {target}`",
                  file=sys.stderr)
            return ExitStatus.CHECK_FAILED
        print(f"cdp: {target} is up to date", file=sys.stderr)
        return 0
    if args.out:
        Path(args.out).write_text(text)
        print(f"cdp: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    existed = settings.backend == "ladybug" and settings.db_path.exists()
    if existed:
        args.access = "read"  # only looks: works beside a server that holds the store
    store = _open(args, settings)  # creates the file and the schema (Neo4j: constraints and indexes)
    try:
        where = str(settings.db_path.resolve()) if settings.backend == "ladybug" else settings.neo4j_uri
        empty = store.is_empty()
    finally:
        store.close()
    state = "already there" + ("" if empty else ", holding data") if existed or settings.backend == "neo4j" \
        else "created, empty"
    print(f"cdp: store at {where}: {state}; next: `cdp keys create --role admin --name <you>`, then `cdp serve`",
          file=sys.stderr)
    return 0


def _cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    store = _open(args, settings)
    try:
        for name, count in store.counts().items():
            print(f"{name:<18}{count:>12,}")
    finally:
        store.close()
    return 0


def _cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:

    from cdp.customers import customer_merge
    from cdp.identity import resolution as identity
    from cdp.customers.profile import load_policy

    rules = identity.load_rules(args.rules)
    policy = load_policy(settings.profile_policy_path)
    if args.dry_run:
        args.access = "read"  # changes nothing: works beside a server that holds the store
    store = _open(args, settings)
    try:
        started = time.perf_counter()
        print("cdp: resolve: reading source records", file=sys.stderr, flush=True)
        records = customer_merge.source_records(store)
        print(f"cdp: resolve: matching {len(records):,} source records", file=sys.stderr, flush=True)
        resolution = identity.resolve(records, rules)
        merges = customer_merge.plan(records, resolution)
        print(f"cdp: {len(records):,} source records, {resolution.clusters:,} customers found, "
              f"{len(merges):,} merges to make ({time.perf_counter() - started:.1f} s)", file=sys.stderr)
        for rule, n in sorted(resolution.merges.items()):
            print(f"  linked by {rule}: {n:,}", file=sys.stderr)
        for reason, n in sorted(resolution.refused.items()):
            print(f"  refused, {reason}: {n:,}", file=sys.stderr)
        if args.dry_run or not merges:
            return 0
        now = utc_now()
        with Progress("merging", len(merges), unit="merges") as bar:
            outcome = customer_merge.apply(store, policy, merges, now, progress=bar.update)
        print(f"cdp: merged {outcome.customers_merged:,} customers into {outcome.merges:,}, moved "
              f"{outcome.relationships_moved:,} relationships in {outcome.batches:,} transactions", file=sys.stderr)
    finally:
        store.close()
    return 0


def _cmd_quality(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from dataclasses import asdict

    from cdp.customers import quality
    from cdp.customers.profile import load_policy

    policy = load_policy(settings.profile_policy_path)
    store = _open(args, settings)
    try:
        report = quality.report(store, policy, utc_now())
    finally:
        store.close()
    def moment(value: object) -> str:
        return iso(value) if isinstance(value, datetime) else str(value)

    print(json.dumps(asdict(report), default=moment, indent=2) if args.json else quality.markdown(report), end="")
    return 0


def _cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from cdp.analytics.analytics import Analytics
    store = _open(args, settings)
    analytics = Analytics(store, settings)
    names = ["churn", "lifetime_value", "propensity"] if args.model == "all" else [args.model]
    try:
        # The first minutes go to reading the store's history; then one model after another.
        print(f"cdp: train: reading the store's history for {', '.join(names)}", file=sys.stderr, flush=True)
        started = time.perf_counter()

        def progress(fraction: float) -> None:
            print(f"cdp: train: {fraction:.0%} of the models trained ({time.perf_counter() - started:,.0f} s)",
                  file=sys.stderr, flush=True)

        cards = analytics.models.train(args.model, args.as_of, progress=progress)
        for card in cards:
            print(card.summary())
        print(f"cdp: models saved in {settings.models_path}", file=sys.stderr)
    finally:
        analytics.close()
        store.close()
    return 0


def _cmd_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    """``cdp campaigns list | audience | launch | export | responses`` (docs/campaigns.md)."""
    import json

    from cdp.campaigns import campaign_responses
    from cdp.campaigns import contact_lists
    from cdp.analytics.analytics import Analytics

    now = utc_now()
    store = _open(args, settings)
    analytics = Analytics(store, settings)
    try:
        service = analytics.campaigns
        if args.action == "list":
            for c in service.list():
                waves = " then ".join(f"{w.channel}{'*' if w.launched_at else ''}" for w in c.waves)
                print(f"{c.id}\t{c.status}\t{c.name}\t{waves}\tspent {c.spent:,.2f}")
        elif args.action == "audience":
            a = service.audience(args.campaign, args.wave, now)
            print(json.dumps({"campaign": args.campaign, "wave": args.wave, "channel": a.wave.channel,
                              "target": a.target, "eligible": a.eligible, "treatment": a.treatment,
                              "control": a.control_size, "cost": round(a.cost, 2), "excluded": a.excluded},
                             indent=2))
        elif args.action == "launch":
            campaign, audience = service.launch(args.campaign, now, args.wave, args.force)
            print(f"cdp: wave {args.wave} of {campaign.id} launched: {audience.treatment} contacts, "
                  f"{audience.control_size} held out, excluded {audience.excluded}", file=sys.stderr)
        elif args.action == "export":
            table = service.wave_contacts(args.campaign, args.wave)
            if args.out:
                with open(args.out, "w", encoding="utf-8", newline="") as out:
                    count = contact_lists.write(table, args.format, out)
            else:
                count = contact_lists.write(table, args.format, sys.stdout)
            print(f"cdp: {count} contacts of wave {args.wave}", file=sys.stderr)
        elif args.action == "responses":
            items = campaign_responses.read(Path(args.file), now)
            result = service.record_responses(args.campaign, items, file=args.file)
            print(f"cdp: {result.recorded} responses recorded for {args.campaign}", file=sys.stderr)
    finally:
        analytics.close()
        store.close()
    return 0


def _cmd_privacy(args: argparse.Namespace, settings: Settings) -> int:
    """``cdp privacy export | erase`` (docs/privacy.md), audited as the CLI principal."""
    import json

    from cdp.privacy import customer_export
    from cdp.privacy import erasure
    from cdp.analytics.analytics import Analytics

    now = utc_now()
    audit = AuditLog(settings.audit_log_path)
    principal = cli_principal()
    store = _open(args, settings)
    try:
        if args.action == "export":
            analytics = Analytics(store, settings)
            try:
                document = customer_export.export(store, args.customer, now, analytics)
            finally:
                analytics.close()
            audit.record(principal, "export", "cdp privacy export", customers=[args.customer])
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
            if args.out:
                Path(args.out).write_text(text, encoding="utf-8")
                print(f"cdp: wrote the data held about {args.customer} to {args.out}", file=sys.stderr)
            else:
                sys.stdout.write(text)
        else:
            _confirm(args, f"Erase the personal data of customer {args.customer} (and of the customers merged "
                           "into it)? This cannot be undone.")
            try:
                result = erasure.erase(store, args.customer, now)
            except CdpError as exc:
                audit.record(principal, "erase", "cdp privacy erase", customers=[args.customer], outcome=exc.code)
                raise
            audit.record(principal, "erase", "cdp privacy erase", customers=[args.customer, *result.customers])
            what = (f"{result.attribute_values} attribute values deleted, {result.contact_subjects} contact "
                    f"subjects and {result.event_descriptions} event descriptions cleared, {result.api_keys} "
                    f"API keys revoked")
            print(f"cdp: erased {', '.join(result.customers)}"
                  f"{' (already erased before)' if result.already_erased else ''}: {what} "
                  f"in {result.seconds:.2f} s", file=sys.stderr)
    finally:
        store.close()
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _moment(text: str) -> datetime:
    """An ISO date or time (``2026-09-01``, ``2026-09-01T12:00``) as naive UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date or time such as 2026-09-01, got {text!r}") from None
    return naive_utc(value)


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with every option's default shown (unless it has none, is a plain
    switch, or its help says it already)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is None or default is False or default == argparse.SUPPRESS or "default" in text
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        shown = f"{default:,}" if isinstance(default, int) and not isinstance(default, bool) else default
        return f"{text} (default: {shown})"


def _store_use(cmd: argparse.ArgumentParser, access: str, instead: str | None = None) -> None:
    """Record how ``cmd`` opens the store (``cdp.cli.command_store.Access``) and, for a command that
    changes it, what does the same through a running server (named when the store is locked)."""
    cmd.set_defaults(access=access, instead=instead, command_line=cmd.prog)


def _open(args: argparse.Namespace, settings: Settings) -> GraphStore:
    """The store, opened as the command's parser said (``_store_use``)."""
    from cdp.cli.command_store import open_for

    return open_for(settings, args.access, command=args.command_line, instead=args.instead)


def _confirm(args: argparse.Namespace, question: str) -> None:
    """Ask ``question`` on the terminal unless ``--yes`` was given. Raises ``NotConfirmed`` for
    any answer but yes, and when there is no terminal to ask (scripts pass ``--yes``)."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed(f"{question} Not confirmed: there is no terminal to ask; add --yes to confirm")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise NotConfirmed("not confirmed; nothing was changed")


def _version() -> str:
    """cdp's installed version (the package metadata), or ``unknown`` when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cdp")
    except PackageNotFoundError:
        return "unknown"


def parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser of ``cdp`` (defaults come from ``settings``)."""
    def sub_parser(group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str,
                   **kw: Any) -> argparse.ArgumentParser:
        return group.add_parser(name, help=text, description=kw.pop("description", text[:1].upper() + text[1:]),
                                formatter_class=_HelpFormatter, **kw)

    p = argparse.ArgumentParser(prog="cdp", description="cdp: a GraphQL customer-data platform. "
                                "Exit statuses: docs/cli.md.", formatter_class=_HelpFormatter)
    p.add_argument("--version", action="version", version=f"cdp {_version()}", help="print cdp's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub_parser(sub, "serve", "serve the GraphQL API and playground")
    serve.add_argument("--host", help=f"address to listen on (default: {settings.host}, CDP_HOST)")
    serve.add_argument("--port", type=_positive, help=f"port to listen on (default: {settings.port}, CDP_PORT)")
    serve.add_argument("--no-demo", action="store_true", help="do not load demo data into an empty store")
    serve.add_argument("--dev-key", action="store_true",
                       help="print an admin key for development (kept in <CDP_DB_PATH>.dev-key; made on first use)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                       help="least severe log records written")
    serve.add_argument("--workers", type=_positive, default=1,
                       help="server processes on the port (Neo4j store only; each enforces 1/N of the rate limit)")
    serve.set_defaults(run=_cmd_serve)
    _store_use(serve, "create")

    demo = sub_parser(sub, "demo", "generate or load demo data").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    gen = sub_parser(demo, "generate", "write seeded demo data as Parquet files")
    gen.add_argument("--customers", type=_positive, default=settings.demo_customers,
                     help="customers to generate (CDP_DEMO_CUSTOMERS)")
    gen.add_argument("--seed", type=int, default=settings.demo_seed,
                     help="random seed: the same seed and size give the same data (CDP_DEMO_SEED)")
    gen.add_argument("--out", required=True, help="output folder (required)")
    gen.set_defaults(run=_cmd_demo_generate)
    load = sub_parser(demo, "load", "load demo data into the configured (empty) store; creates the store")
    load.add_argument("--customers", type=_positive, default=settings.demo_customers,
                      help="customers to generate (CDP_DEMO_CUSTOMERS)")
    load.add_argument("--seed", type=int, default=settings.demo_seed,
                      help="random seed (CDP_DEMO_SEED)")
    load.add_argument("--from", dest="source",
                      help="load a folder written by `cdp demo generate` instead of generating")
    load.set_defaults(run=_cmd_demo_load)
    _store_use(load, "create")

    imp = sub_parser(sub, "import", "import a source system's file (CSV, Parquet, JSON Lines) by a mapping; "
                     "creates the store", description="Import a source system's file by a mapping "
                     "(docs/import.md). Exit status: 0 all rows imported, 3 some rows rejected (see the "
                     "rejects file), 2 bad mapping or unreadable file, 4 store in use (docs/cli.md).")
    imp.add_argument("file", help="the data file")
    imp.add_argument("--mapping", required=True, help="the mapping file (TOML; required)")
    imp.add_argument("--batch-size", type=_positive,
                     help="rows per transaction (default: the store's: 1,000,000 on the embedded store, "
                          "50,000 on Neo4j)")
    imp.add_argument("--rejects", help="rejects file (default: <file stem>.rejects.csv here)")
    imp.set_defaults(run=_cmd_import)
    _store_use(imp, "create", "the upsert mutations (upsertCustomers, ...)")

    schema = sub_parser(sub, "schema", "the GraphQL schema").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    export = sub_parser(schema, "export", "print or write the SDL")
    export.add_argument("--out", help="file to write (default: print)")
    export.add_argument("--check", action="store_true",
                        help="exit 1 if --out (or schema/schema.graphql) differs from the code's SDL")
    export.set_defaults(run=_cmd_schema_export)

    res = sub_parser(sub, "resolve", "identity resolution: merge customers whose source records are one person")
    res.add_argument("--rules", type=Path, default=None, help="match-rule file (default: cdp/identity/identity_rules.toml)")
    res.add_argument("--dry-run", action="store_true", help="report what would be merged, change nothing")
    res.set_defaults(run=_cmd_resolve)
    _store_use(res, "write")
    q = sub_parser(sub, "quality", "data-quality report: completeness, staleness, conflicts, duplicates, rejects")
    q.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    q.set_defaults(run=_cmd_quality)
    _store_use(q, "read")
    train = sub_parser(sub, "train", "train predictive models on the store's history and print their cards")
    train.add_argument("model", nargs="?", default="all",
                       choices=["churn", "lifetime_value", "repeat_purchase", "propensity", "all"],
                       help="the model to train")
    train.add_argument("--as-of", type=_moment, default=None, metavar="DATE",
                       help="train as of this ISO date or time (UTC; default: now): only what was known then is read")
    train.set_defaults(run=_cmd_train)
    _store_use(train, "write", "the trainModel mutation")
    camp = sub_parser(sub, "campaigns", "campaigns: list, audience, launch waves, export contact lists, "
                                        "import responses").add_subparsers(dest="action", required=True,
                                                                           metavar="ACTION")
    listed = sub_parser(camp, "list", "every campaign, newest first")
    listed.set_defaults(run=_cmd_campaigns)
    _store_use(listed, "read")
    for name, text in (("audience", "a wave's audience and exclusions (dry run)"),
                       ("launch", "launch a wave now"), ("export", "a launched wave's contact list")):
        cmd = sub_parser(camp, name, text)
        cmd.add_argument("campaign", help="campaign id")
        cmd.add_argument("--wave", type=_positive, default=1, help="wave number")
        if name == "launch":
            cmd.add_argument("--force", action="store_true", help="launch a later wave before it is due")
        if name == "export":
            cmd.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="file format")
            cmd.add_argument("--out", help="file to write (default: print)")
        cmd.set_defaults(run=_cmd_campaigns)
        _store_use(cmd, "write" if name == "launch" else "read", "the launchWave mutation")
    resp = sub_parser(camp, "responses", "record responses from a CSV or JSON Lines file (all or none)")
    resp.add_argument("campaign", help="campaign id")
    resp.add_argument("file", help="columns customer_id, response, at, revenue, wave")
    resp.set_defaults(run=_cmd_campaigns)
    _store_use(resp, "write", "the recordCampaignResponses mutation")
    keys = sub_parser(sub, "keys", "API keys: create, list, revoke (docs/security.md)").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = sub_parser(keys, "create", "create a key and print it (only now: its secret is stored hashed)")
    create.add_argument("--role", required=True, choices=["admin", "analyst", "app", "partner", "customer"],
                        help="what the key may do (docs/security.md; required)")
    create.add_argument("--name", required=True, help="who holds the key, e.g. 'service desk' (required)")
    create.add_argument("--scope", action="append",
                        help="personal_data, personal:<field> or metrics (repeatable; default: none)")
    create.add_argument("--operations", nargs="+", help="partner keys: the GraphQL operations they may use")
    create.add_argument("--customer", help="customer keys: the customer's id")
    create.add_argument("--expires", help="ISO date or time (UTC) after which the key is refused (default: never)")
    create.set_defaults(run=_cmd_keys)
    _store_use(create, "write", "the createApiKey mutation (with an admin key)")
    klist = sub_parser(keys, "list", "every key: id, role, state, created, name (never the secret)")
    klist.set_defaults(run=_cmd_keys)
    _store_use(klist, "read")
    revoke = sub_parser(keys, "revoke", "revoke a key (by id or the whole key); cannot be undone")
    revoke.add_argument("key", help="the key's id (as `cdp keys list` shows it) or the whole key")
    revoke.add_argument("--last-admin", action="store_true",
                        help="also revoke the last active admin key (the API then has no admin until "
                             "`cdp keys create --role admin` or `cdp serve --dev-key` makes one)")
    revoke.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    revoke.set_defaults(run=_cmd_keys)
    _store_use(revoke, "write", "the revokeApiKey mutation (with an admin key)")
    aud = sub_parser(sub, "audit", "print audit records (JSON lines), newest first")
    aud.add_argument("--customer", help="records about this customer id")
    aud.add_argument("--principal", help="records of this principal, e.g. key:0a1b2c3d4e5f")
    aud.add_argument("--action", help="write, read_personal, export, erase, key_created, key_revoked, denied")
    aud.add_argument("--since", help="ISO date or time (UTC)")
    aud.add_argument("--limit", type=_positive, default=100, help="most records printed")
    aud.set_defaults(run=_cmd_audit)
    privacy = sub_parser(sub, "privacy", "privacy: export everything held about a person, or erase them "
                                         "(docs/privacy.md)").add_subparsers(dest="action", required=True,
                                                                             metavar="ACTION")
    exp = sub_parser(privacy, "export", "print (or write) everything held about one customer as JSON")
    exp.add_argument("customer", help="customer id")
    exp.add_argument("--out", help="write to this file instead of standard output")
    exp.set_defaults(run=_cmd_privacy)
    _store_use(exp, "read")
    era = sub_parser(privacy, "erase", "remove a customer's personal data, keep anonymised aggregates; "
                                       "cannot be undone")
    era.add_argument("customer", help="customer id")
    era.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    era.set_defaults(run=_cmd_privacy)
    _store_use(era, "write", "the eraseCustomer mutation")
    init = sub_parser(sub, "init", "create an empty store where the settings point (CDP_DB_PATH or NEO4J_URI); "
                      "a store already there is left as it is")
    init.set_defaults(run=_cmd_init)
    _store_use(init, "create")
    stats = sub_parser(sub, "stats", "count nodes and relationships")
    stats.set_defaults(run=_cmd_stats)
    _store_use(stats, "read")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cdp`` command; returns the exit status (``cdp.cli.exit_status``).

    A reader that closes the pipe early (``cdp stats | head -1``) ends the command quietly."""
    try:
        settings = Settings.from_env()
        args = parser(settings).parse_args(argv)
        status = args.run(args, settings)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return status
    except CdpError as exc:
        print(f"cdp: error: {exc.message}", file=sys.stderr)
        return exit_status.for_error(exc)
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush is quiet too.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.OK
    except KeyboardInterrupt:
        print("cdp: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
