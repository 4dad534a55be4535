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

Every failure the user can fix is printed as ``cdp: error: <message>`` with
exit status 2; no traceback. ``cdp import`` exits 3 when it rejected some rows.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from cdp.errors import CdpError, Conflict
from cdp.settings import Settings


def _progress_bar(total: int | None, desc: str, unit: str = "rows"):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                disable=None, dynamic_ncols=True)


def _generate(customers: int, seed: int):  # type: ignore[no-untyped-def]
    from cdp import demo

    bar = _progress_bar(None, f"generating {customers:,} customers", "rows")

    def progress(step: str, rows_so_far: int) -> None:
        # demo.generate reports the running total, not the rows of the stage.
        bar.set_postfix_str(step)
        bar.update(rows_so_far - bar.n)

    try:
        data = demo.generate(customers, seed=seed, progress=progress)
    finally:
        bar.close()
    return data


def load_demo(settings: Settings, customers: int, seed: int, source: Path | None = None) -> dict:
    """Generate (or read from ``source``) demo data and bulk-load it into the store.

    Returns a summary with row counts and rows/s. Raises ``Conflict`` when the
    store already holds data, ``InvalidInput`` for an unreadable ``source``.
    """
    from cdp import demo
    from cdp.store import open_store

    store = open_store(settings)
    try:
        if not store.is_empty() and not store.bulk_load_unfinished():  # an unfinished load resumes
            raise Conflict(
                f"the store at {settings.db_path if settings.backend == 'ladybug' else settings.neo4j_uri} "
                "already holds data; remove it first (embedded: delete the file) to reload")
        data = demo.read_parquet(source) if source else _generate(customers, seed)
        total = data.row_count()
        bar = _progress_bar(total, "loading")
        started = time.perf_counter()
        try:
            store.bulk_load(data.nodes, data.relationships, progress=lambda step, n: (
                bar.set_postfix_str(step), bar.update(n)))
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        return {"rows": total, "seconds": round(seconds, 2), "rows_per_second": round(total / seconds)}
    finally:
        store.close()


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from cdp.app import build_app
    from cdp.store import open_store

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    if args.workers > 1:
        from cdp.serve_workers import worker_environment

        worker_environment(settings, args.workers)  # refuses the embedded store before anything starts
    if not args.no_demo:
        store = open_store(settings)
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
    from cdp.request_log import configure_logging

    from cdp.http_connection import protocol_with_header_timeout

    configure_logging(settings.log_format, args.log_level)  # type: ignore[arg-type]
    if args.workers > 1:
        from cdp import serve_workers

        serve_workers.prepare(settings, args.workers, args.log_level)
        print(f"cdp: serving http://{settings.host}:{settings.port}/graphql ({settings.backend} store, "
              f"{args.workers} worker processes)", file=sys.stderr)
        # uvicorn's supervisor: SIGTERM / SIGINT stop the workers gracefully, as below
        uvicorn.run("cdp.serve_workers:app", factory=True, workers=args.workers, host=settings.host,
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
        return 3
    return 0


def _development_key(settings: Settings) -> str:
    """The development key ``cdp serve --dev-key`` prints: the one kept in ``settings.dev_key_path``
    while it still works, else a new admin key (written there, readable by the owner only)."""
    from cdp.api_keys import KeyVerifier, create_key
    from cdp.errors import Unauthenticated
    from cdp.store import open_store

    path = settings.dev_key_path
    store = open_store(settings)
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

    from cdp import api_keys
    from cdp.audit import AuditLog
    from cdp.principal import cli_principal
    from cdp.store import open_store

    store = open_store(settings)
    audit = AuditLog(settings.audit_log_path)
    try:
        if args.action == "create":
            expires = None
            if args.expires:
                try:
                    expires = datetime.fromisoformat(args.expires)
                except ValueError:
                    raise CdpError(f"--expires: expected an ISO date or time, got {args.expires!r}") from None
                expires = expires.replace(tzinfo=None)
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
                state = "revoked" if key.revoked_at else "expired" if not key.usable_at(datetime.utcnow()) \
                    else "active"
                extra = " ".join(filter(None, [
                    f"scopes={','.join(key.scopes)}" if key.scopes else "",
                    f"operations={','.join(key.operations)}" if key.operations else "",
                    f"customer={key.customer_id}" if key.customer_id else "",
                    f"expires={key.expires_at:%Y-%m-%dT%H:%M}" if key.expires_at else ""]))
                print(f"{key.id}\t{key.role.value}\t{state}\t{key.created_at:%Y-%m-%dT%H:%M}\t{key.name}"
                      + (f"\t{extra}" if extra else ""))
        else:
            key = api_keys.revoke_key(store, args.key, allow_last_admin=args.last_admin)
            audit.record(cli_principal(), "key_revoked", "keys revoke")
            print(f"cdp: revoked key {key.id} ({key.name!r}) at {key.revoked_at:%Y-%m-%dT%H:%M:%S}Z",
                  file=sys.stderr)
    finally:
        store.close()
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from dataclasses import asdict
    from datetime import datetime, timezone

    from cdp.audit import AuditLog

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CdpError(f"--since: expected an ISO date or time, got {args.since!r}") from None
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    records = AuditLog(settings.audit_log_path).read(customer_id=args.customer, principal=args.principal,
                                                      action=args.action, since=since, limit=args.limit)
    for record in records:
        print(json.dumps(asdict(record)))
    return 0


def _cmd_demo_generate(args: argparse.Namespace, settings: Settings) -> int:
    from cdp import demo

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
EXIT_REJECTED = 3


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from cdp import ingest
    from cdp.mapping import load_mapping
    from cdp.store import open_store
    from cdp.write_rules import WriteRules

    mapping = load_mapping(args.mapping)
    data = Path(args.file)
    batch_size = args.batch_size  # None: the store's (LadybugDB 1,000,000 rows, Neo4j 50,000)
    ingest.open_source(mapping, data, batch_size or ingest.DEFAULT_BATCH_SIZE).close()  # fail before opening the store
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

    store = open_store(settings)
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
            return 1
        print(f"cdp: {target} is up to date", file=sys.stderr)
        return 0
    if args.out:
        Path(args.out).write_text(text)
        print(f"cdp: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from cdp.store import open_store

    store = open_store(settings)
    try:
        for name, count in store.counts().items():
            print(f"{name:<18}{count:>12,}")
    finally:
        store.close()
    return 0


def _cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import datetime, timezone

    from cdp import customer_merge, identity
    from cdp.profile import load_policy
    from cdp.store import open_store

    rules = identity.load_rules(args.rules)
    policy = load_policy(settings.profile_policy_path)
    store = open_store(settings)
    try:
        started = time.perf_counter()
        records = customer_merge.source_records(store)
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
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with _progress_bar(len(merges), "merge", unit="merges") as bar:
            outcome = customer_merge.apply(store, policy, merges, now, progress=bar.update)
        print(f"cdp: merged {outcome.customers_merged:,} customers into {outcome.merges:,}, moved "
              f"{outcome.relationships_moved:,} relationships in {outcome.batches:,} transactions", file=sys.stderr)
    finally:
        store.close()
    return 0


def _cmd_quality(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from dataclasses import asdict
    from datetime import datetime, timezone

    from cdp import quality
    from cdp.profile import load_policy
    from cdp.store import open_store

    policy = load_policy(settings.profile_policy_path)
    store = open_store(settings)
    try:
        report = quality.report(store, policy, datetime.now(timezone.utc).replace(tzinfo=None))
    finally:
        store.close()
    print(json.dumps(asdict(report), default=str, indent=2) if args.json else quality.markdown(report), end="")
    return 0


def _cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from cdp.analytics import Analytics
    from cdp.store import open_store

    store = open_store(settings)
    analytics = Analytics(store, settings)
    try:
        for card in analytics.models.train(args.model, args.as_of):
            print(card.summary())
        print(f"cdp: models saved in {settings.models_path}", file=sys.stderr)
    finally:
        analytics.close()
        store.close()
    return 0


def _cmd_campaigns(args: argparse.Namespace, settings: Settings) -> int:
    """``cdp campaigns list | audience | launch | export | responses`` (docs/campaigns.md)."""
    import json
    from datetime import datetime, timezone

    from cdp import campaign_responses, contact_lists
    from cdp.analytics import Analytics
    from cdp.store import open_store

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    store = open_store(settings)
    analytics = Analytics(store, settings)
    try:
        service = analytics.campaigns
        if args.action == "list":
            for c in service.list():
                waves = " then ".join(f"{w.channel}{'*' if w.launched_at else ''}" for w in c.waves)
                print(f"{c.id}\t{c.status}\t{c.name}\t{waves}\tspent {c.spent:.2f}")
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
    from datetime import datetime, timezone

    from cdp import customer_export, erasure
    from cdp.analytics import Analytics
    from cdp.audit import AuditLog
    from cdp.principal import cli_principal
    from cdp.store import open_store

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    audit = AuditLog(settings.audit_log_path)
    principal = cli_principal()
    store = open_store(settings)
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
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo is not None else value


def parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser of ``cdp`` (defaults come from ``settings``)."""
    p = argparse.ArgumentParser(prog="cdp", description="cdp: a GraphQL customer-data platform")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the GraphQL API and playground")
    serve.add_argument("--host", help=f"address to listen on (default {settings.host})")
    serve.add_argument("--port", type=_positive, help=f"port (default {settings.port})")
    serve.add_argument("--no-demo", action="store_true", help="do not load demo data into an empty store")
    serve.add_argument("--dev-key", action="store_true",
                       help="print an admin key for development (kept in <CDP_DB_PATH>.dev-key; made on first use)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--workers", type=_positive, default=1,
                       help="server processes on the port (Neo4j store only; each enforces 1/N of the rate limit)")
    serve.set_defaults(run=_cmd_serve)

    demo = sub.add_parser("demo", help="generate or load demo data").add_subparsers(dest="action", required=True)
    gen = demo.add_parser("generate", help="write seeded demo data as Parquet files")
    gen.add_argument("--customers", type=_positive, default=settings.demo_customers)
    gen.add_argument("--seed", type=int, default=settings.demo_seed)
    gen.add_argument("--out", required=True, help="output folder")
    gen.set_defaults(run=_cmd_demo_generate)
    load = demo.add_parser("load", help="load demo data into the configured (empty) store")
    load.add_argument("--customers", type=_positive, default=settings.demo_customers)
    load.add_argument("--seed", type=int, default=settings.demo_seed)
    load.add_argument("--from", dest="source", help="a folder written by `cdp demo generate`")
    load.set_defaults(run=_cmd_demo_load)

    imp = sub.add_parser("import", help="import a source system's file (CSV, Parquet, JSON Lines) by a mapping",
                         description="Exit status: 0 all rows imported, 3 some rows rejected (see the rejects "
                                     "file), 2 bad mapping or unreadable file. See docs/import.md.")
    imp.add_argument("file", help="the data file")
    imp.add_argument("--mapping", required=True, help="the mapping file (TOML)")
    imp.add_argument("--batch-size", type=_positive,
                     help="rows per transaction (default: the store's: 1000000 on the embedded store, "
                          "50000 on Neo4j)")
    imp.add_argument("--rejects", help="rejects file (default: <file stem>.rejects.csv here)")
    imp.set_defaults(run=_cmd_import)

    schema = sub.add_parser("schema", help="the GraphQL schema").add_subparsers(dest="action", required=True)
    export = schema.add_parser("export", help="print or write the SDL")
    export.add_argument("--out", help="file to write (default: print)")
    export.add_argument("--check", action="store_true", help="exit 1 if --out (or schema/schema.graphql) differs")
    export.set_defaults(run=_cmd_schema_export)

    res = sub.add_parser("resolve", help="identity resolution: merge customers whose source records are one person")
    res.add_argument("--rules", type=Path, default=None, help="match-rule file (default: cdp/identity_rules.toml)")
    res.add_argument("--dry-run", action="store_true", help="report what would be merged, change nothing")
    res.set_defaults(run=_cmd_resolve)
    q = sub.add_parser("quality", help="data-quality report: completeness, staleness, conflicts, duplicates, rejects")
    q.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    q.set_defaults(run=_cmd_quality)
    train = sub.add_parser("train", help="train predictive models on the store's history and print their cards")
    train.add_argument("model", nargs="?", default="all",
                       choices=["churn", "lifetime_value", "repeat_purchase", "propensity", "all"])
    train.add_argument("--as-of", type=_moment, default=None, metavar="DATE",
                       help="train as of this ISO date or time (UTC): only what was known then is read")
    train.set_defaults(run=_cmd_train)
    camp = sub.add_parser("campaigns", help="campaigns: list, audience, launch waves, export contact lists, "
                                            "import responses").add_subparsers(dest="action", required=True)
    camp.add_parser("list", help="every campaign, newest first").set_defaults(run=_cmd_campaigns)
    for name, text in (("audience", "a wave's audience and exclusions (dry run)"),
                       ("launch", "launch a wave now"), ("export", "a launched wave's contact list")):
        cmd = camp.add_parser(name, help=text)
        cmd.add_argument("campaign", help="campaign id")
        cmd.add_argument("--wave", type=_positive, default=1)
        if name == "launch":
            cmd.add_argument("--force", action="store_true", help="launch a later wave before it is due")
        if name == "export":
            cmd.add_argument("--format", choices=["csv", "jsonl"], default="csv")
            cmd.add_argument("--out", help="file to write (default: print)")
        cmd.set_defaults(run=_cmd_campaigns)
    resp = camp.add_parser("responses", help="record responses from a CSV or JSON Lines file (all or none)")
    resp.add_argument("campaign", help="campaign id")
    resp.add_argument("file", help="columns customer_id, response, at, revenue, wave")
    resp.set_defaults(run=_cmd_campaigns)
    keys = sub.add_parser("keys", help="API keys: create, list, revoke (docs/security.md)").add_subparsers(
        dest="action", required=True)
    create = keys.add_parser("create", help="create a key and print it (only now: its secret is stored hashed)")
    create.add_argument("--role", required=True, choices=["admin", "analyst", "app", "partner", "customer"])
    create.add_argument("--name", required=True, help="who holds the key, e.g. 'service desk'")
    create.add_argument("--scope", action="append", help="personal_data, personal:<field> or metrics (repeatable)")
    create.add_argument("--operations", nargs="+", help="partner keys: the GraphQL operations they may use")
    create.add_argument("--customer", help="customer keys: the customer's id")
    create.add_argument("--expires", help="ISO date or time (UTC) after which the key is refused")
    create.set_defaults(run=_cmd_keys)
    keys.add_parser("list", help="every key: id, role, state, created, name (never the secret)").set_defaults(
        run=_cmd_keys)
    revoke = keys.add_parser("revoke", help="revoke a key (by id or the whole key)")
    revoke.add_argument("key")
    revoke.add_argument("--last-admin", action="store_true",
                        help="also revoke the last active admin key (the API then has no admin until "
                             "`cdp keys create --role admin` or `cdp serve --dev-key` makes one)")
    revoke.set_defaults(run=_cmd_keys)
    aud = sub.add_parser("audit", help="print audit records (JSON lines), newest first")
    aud.add_argument("--customer", help="records about this customer id")
    aud.add_argument("--principal", help="records of this principal, e.g. key:0a1b2c3d4e5f")
    aud.add_argument("--action", help="write, read_personal, export, erase, key_created, key_revoked, denied")
    aud.add_argument("--since", help="ISO date or time (UTC)")
    aud.add_argument("--limit", type=_positive, default=100)
    aud.set_defaults(run=_cmd_audit)
    privacy = sub.add_parser("privacy", help="privacy: export everything held about a person, or erase them "
                                             "(docs/privacy.md)").add_subparsers(dest="action", required=True)
    exp = privacy.add_parser("export", help="print (or write) everything held about one customer as JSON")
    exp.add_argument("customer", help="customer id")
    exp.add_argument("--out", help="write to this file instead of standard output")
    exp.set_defaults(run=_cmd_privacy)
    era = privacy.add_parser("erase", help="remove a customer's personal data, keep anonymised aggregates")
    era.add_argument("customer", help="customer id")
    era.set_defaults(run=_cmd_privacy)
    stats = sub.add_parser("stats", help="count nodes and relationships")
    stats.set_defaults(run=_cmd_stats)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cdp`` command; returns the exit status."""
    try:
        settings = Settings.from_env()
        args = parser(settings).parse_args(argv)
        return args.run(args, settings)
    except CdpError as exc:
        print(f"cdp: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cdp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

