"""The `seleto-agent` command (INTERFACE.md §1)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from seleto_agent.settings import MissingSecretsError, Settings, get_settings

if TYPE_CHECKING:
    import uvicorn


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    args = _parser().parse_args(argv)
    if args.command == "sandbox":
        from seleto_agent.sandbox.server import run_sandbox

        run_sandbox(host=args.host, port=args.port)
        return 0
    settings = get_settings()
    if args.command == "piperun":
        from seleto_agent.services.piperun_discover import run_discover

        # Needs only PIPERUN_*: an operator runs it before the rest of the env is filled.
        return asyncio.run(run_discover(settings, out=sys.stdout, err=sys.stderr))
    try:
        settings.check_for_startup()
    except MissingSecretsError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from seleto_agent.observability.logging import configure_logging

    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        pii_key=settings.log_pii_key.get_secret_value().encode(),
    )
    if args.command == "serve":
        return _serve(settings, args.host, args.port or settings.port)
    handlers = {
        "worker": _worker,
        "migrate": _migrate,
        "events": _events,
        "jobs": _jobs,
        "lgpd": _lgpd,
    }
    return asyncio.run(handlers[args.command](settings, args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seleto-agent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="webhooks, admin API, AgentOS and the embedded worker")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's service port
    serve.add_argument("--port", type=int, default=None)
    sub.add_parser("worker", help="a worker process alone")
    sub.add_parser("migrate", help="apply supabase/migrations to DATABASE_URL")
    events = sub.add_parser("events", help="list or replay inbound events")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    listing = events_sub.add_parser("list")
    listing.add_argument("--status", default=None)
    listing.add_argument("--limit", type=int, default=50)
    replay = events_sub.add_parser("replay")
    replay.add_argument("ids", nargs="*", type=int)
    replay.add_argument("--status", default=None)
    replay.add_argument("--dry-run", action="store_true")
    jobs = sub.add_parser("jobs", help="list or replay outbox jobs (CRM sync, Chatwoot mirror)")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_list = jobs_sub.add_parser("list")
    jobs_list.add_argument("--status", default=None)
    jobs_list.add_argument("--kind", default=None)
    jobs_list.add_argument("--limit", type=int, default=50)
    jobs_replay = jobs_sub.add_parser("replay")
    jobs_replay.add_argument("ids", nargs="*", type=int)
    jobs_replay.add_argument("--status", default=None)
    jobs_replay.add_argument("--kind", default=None)
    jobs_replay.add_argument("--dry-run", action="store_true")
    lgpd = sub.add_parser("lgpd", help="data-subject requests: export or erase one person")
    lgpd_sub = lgpd.add_subparsers(dest="lgpd_command", required=True)
    lgpd_export = lgpd_sub.add_parser("export", help="print every row about PHONE as JSON")
    lgpd_export.add_argument("phone", help="a phone in any format, lid:<digits> or bsuid:<id>")
    lgpd_delete = lgpd_sub.add_parser("delete", help="erase PHONE here, in Agno, Chatwoot, PipeRun")
    lgpd_delete.add_argument("phone", help="a phone in any format, lid:<digits> or bsuid:<id>")
    lgpd_delete.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    piperun = sub.add_parser("piperun", help="PipeRun CRM helpers")
    piperun_sub = piperun.add_subparsers(dest="piperun_command", required=True)
    piperun_sub.add_parser("discover", help="print pipelines, stages, origins and users ids")
    sandbox = sub.add_parser("sandbox", help="local simulators of the external services")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8900)
    return parser


# Longer than the idle timeout of any client that pools connections to us (providers, load
# balancers: 60 s is common; httpx's is 5 s). With uvicorn's default of 5 s, a client reusing
# a connection just as the server closes it loses that request (seen in the stress test).
KEEP_ALIVE_SECONDS = 75


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from seleto_agent.app import create_app
    from seleto_agent.runtime import build_runtime

    uvicorn.Server(server_config(create_app(build_runtime(settings)), host, port)).run()
    return 0


async def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from seleto_agent.runtime import build_runtime, closing

    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port)
    runtime = build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with closing(runtime):
        await asyncio.gather(*runtime.background(stop))
    return 0


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from seleto_agent.db.engine import create_engine
    from seleto_agent.db.migrate import MigrationError
    from seleto_agent.services.schema import migrate_all

    engine = create_engine(settings.database_url)
    try:
        report = await migrate_all(engine, settings.migrations_dir)
    except MigrationError as exc:
        print(f"migrate refused: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    for change in report.schema_changes:
        print(change)
    if report.versions:
        print(f"applied {len(report.versions)} migration(s): {', '.join(report.versions)}")
    elif not report.schema_changes:
        print("up to date")
    return 0


async def _events(settings: Settings, args: argparse.Namespace) -> int:
    from seleto_agent.api.views import event_item
    from seleto_agent.db.engine import create_engine
    from seleto_agent.db.repositories.events import EventRepository
    from seleto_agent.domain.events import EventStatus
    from seleto_agent.services.replay import ReplayService

    status = EventStatus(args.status) if args.status else None
    engine = create_engine(settings.database_url)
    try:
        if args.events_command == "list":
            async with engine.connect() as conn:
                events = await EventRepository(conn).list_page(
                    status=status, limit=args.limit, before_id=None
                )
            for event in events:
                print(json.dumps(event_item(event), ensure_ascii=False))
            return 0
        if not args.ids and status is None:
            print("give event ids or --status", file=sys.stderr)
            return 2
        result = await ReplayService(engine, on_queued=lambda: None).replay(
            ids=args.ids, status=status, dry_run=args.dry_run, actor="cli"
        )
    finally:
        await engine.dispose()
    print(
        json.dumps(
            {
                "queued": result.queued,
                "skipped": [{"id": i, "reason": r} for i, r in result.skipped],
                "not_found": result.not_found,
                "dry_run": args.dry_run,
            }
        )
    )
    return 1 if result.not_found else 0


async def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    from seleto_agent.api.views import job_item
    from seleto_agent.db.engine import create_engine
    from seleto_agent.db.repositories.jobs import JobRepository
    from seleto_agent.domain.jobs import JobKind, JobStatus
    from seleto_agent.services.job_replay import JobReplayService

    try:
        status = JobStatus(args.status) if args.status else None
        kind = JobKind(args.kind) if args.kind else None
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        if args.jobs_command == "list":
            async with engine.connect() as conn:
                jobs = await JobRepository(conn).list_page(
                    status=status, kind=kind, limit=args.limit, before_id=None
                )
            for job in jobs:
                print(json.dumps(job_item(job), ensure_ascii=False))
            return 0
        if not args.ids and status is None:
            print("give job ids or --status", file=sys.stderr)
            return 2
        result = await JobReplayService(engine, on_queued=lambda: None).replay(
            ids=args.ids, status=status, kind=kind, dry_run=args.dry_run, actor="cli"
        )
    finally:
        await engine.dispose()
    print(
        json.dumps(
            {
                "queued": result.queued,
                "skipped": [{"id": i, "reason": r} for i, r in result.skipped],
                "not_found": result.not_found,
                "dry_run": args.dry_run,
            }
        )
    )
    return 1 if result.not_found else 0


async def _lgpd(settings: Settings, args: argparse.Namespace) -> int:
    from seleto_agent.db.engine import create_engine
    from seleto_agent.domain.lgpd import UnknownSubject
    from seleto_agent.services.lgpd import LgpdService, SubjectBusy

    if args.lgpd_command == "delete" and not args.yes:
        print("erasure cannot be undone: run again with --yes", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        service = LgpdService(engine)
        if args.lgpd_command == "export":
            document = await service.export(args.phone, actor="cli")
        else:
            document = (await service.delete(args.phone, actor="cli")).as_dict()
    except UnknownSubject as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except SubjectBusy as exc:
        print(f"{exc}; try again in a minute", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(json.dumps(document, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
