"""The `borderwatch` command: serve, migrate, seed-demo, keys create, boundaries load."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from app.auth.roles import ROLES
from app.core.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run work with a session on a short-lived engine."""
    import app.main  # noqa: F401  (registers every model)
    from app.core.db import create_engine, create_sessionmaker

    # Operator commands may run for minutes (a rebuild at 1M incidents): no statement timeout.
    engine = create_engine(get_settings().model_copy(update={"statement_timeout_ms": 0}))
    try:
        async with create_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API with Uvicorn."""
    import uvicorn

    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        log_level=args.log_level,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Run the migrations up (or down) to a revision."""
    from app.core import migrations as schema

    url = get_settings().database_url
    if args.down:
        schema.downgrade(url, args.revision)
    else:
        schema.upgrade(url, args.revision)
    print(f"database at {args.revision if args.revision != 'head' else schema.head_revision()}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    """Load the real sample incidents, and N synthetic ones with --synthetic N."""
    from app.core.errors import Invalid
    from app.incidents.demo import seed_demo

    try:
        added = asyncio.run(_with_session(lambda s: seed_demo(s, synthetic=args.synthetic)))
    except Invalid as exc:
        # The demo rows break a rule of this database: with province boundaries loaded, a
        # synthetic incident (placed near a crossing, named for a random district) can lie
        # outside its province. Batches already committed stay; say which rule, not a trace.
        reasons = sorted({e["message"].split(" (")[0] for e in exc.errors})
        print(f"error: demo data refused: {exc.detail} {'; '.join(reasons[:3])}", file=sys.stderr)
        return 1
    print(f"demo data loaded: {added} incidents added")
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create an API key and print it, once, as the last line."""
    from app.auth.models import ApiKey
    from app.auth.service import create_key

    async def run(session: AsyncSession) -> tuple[ApiKey, str]:
        key, secret = await create_key(session, args.name, args.role)
        await session.commit()
        return key, secret

    key, secret = asyncio.run(_with_session(run))
    print(f"created key {key.id} ({key.name}, {key.role}); it is shown only once:")
    print(secret)
    return 0


def cmd_rebuild_rollups(_args: argparse.Namespace) -> int:
    """Recompute the statistics rollups from the incidents."""
    from app.stats import rollup

    async def run(session: AsyncSession) -> None:
        await rollup.rebuild(session)
        await session.commit()

    asyncio.run(_with_session(run))
    print("rollups rebuilt")
    return 0


def cmd_boundaries_load(args: argparse.Namespace) -> int:
    """Load province or district boundaries from a GeoJSON file, in one transaction; exit 1
    when nothing matched (or, with --strict, anything was refused), 2 when unreadable."""
    from pathlib import Path

    from app.geo import boundaries

    if args.code_field is None and args.name_field is None:
        print("boundaries load: give --code-field or --name-field", file=sys.stderr)
        return 2
    path = Path(args.file)
    try:
        features = boundaries.read_features(path)
    except boundaries.Unreadable as exc:
        print(f"boundaries load: {exc}", file=sys.stderr)
        return 2
    fields = boundaries.Fields(args.code_field, args.name_field, args.province_field)

    async def run(session: AsyncSession) -> tuple[boundaries.Report, str]:
        report = await boundaries.load(session, features, args.level, fields, source=path.name)
        if not report.loaded:
            verdict = "nothing matched: nothing stored"
        elif args.strict and report.refused:
            verdict = f"--strict: {len(report.refused)} features refused, nothing stored"
        elif args.dry_run:
            verdict = "dry run: nothing stored"
        else:
            await session.commit()
            return report, f"stored {len(report.loaded)} {args.level} boundaries"
        await session.rollback()
        return report, verdict

    from sqlalchemy.exc import DBAPIError

    try:
        report, verdict = asyncio.run(_with_session(run))
    except DBAPIError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"boundaries load: database error, nothing stored: {reason}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    print(verdict)
    if not report.loaded or (args.strict and report.refused):
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of the CLI."""
    p = argparse.ArgumentParser(prog="borderwatch", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the API")
    s.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server listens on all addresses
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--log-level", default="info")
    s.set_defaults(func=cmd_serve)

    m = sub.add_parser("migrate", help="run the database migrations")
    m.add_argument("revision", nargs="?", default="head")
    m.add_argument("--down", action="store_true", help="downgrade to the revision instead")
    m.set_defaults(func=cmd_migrate)

    d = sub.add_parser("seed-demo", help="load the demo incidents (idempotent)")
    d.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also add N synthetic incidents, flagged is_synthetic",
    )
    d.set_defaults(func=cmd_seed_demo)

    r = sub.add_parser("rebuild-rollups", help="recompute the statistics rollups")
    r.set_defaults(func=cmd_rebuild_rollups)

    b = sub.add_parser("boundaries", help="administrative boundaries")
    bsub = b.add_subparsers(dest="boundaries_command", required=True)
    bl = bsub.add_parser(
        "load",
        help="load boundaries from a GeoJSON file",
        description="Load Polygon/MultiPolygon features of a GeoJSON FeatureCollection (WGS 84) "
        "as the boundaries of provinces or districts, in one transaction; features are "
        "matched by code or by name (case, accents, punctuation and a trailing "
        "District/Agency ignored; district aliases count). Prints what matched, what did "
        "not and why, and the units still without a boundary.",
    )
    bl.add_argument("file", help="a GeoJSON FeatureCollection")
    bl.add_argument("--level", required=True, choices=["province", "district"])
    bl.add_argument(
        "--code-field", help="property holding the province code (PK-KP) or district slug"
    )
    bl.add_argument("--name-field", help="property holding the unit's name, e.g. shapeName")
    bl.add_argument(
        "--province-field",
        help="districts: property naming the province (code or name), to tell apart "
        "districts of one name",
    )
    bl.add_argument("--dry-run", action="store_true", help="report only; store nothing")
    bl.add_argument(
        "--strict", action="store_true", help="store nothing unless every feature loads"
    )
    bl.set_defaults(func=cmd_boundaries_load)

    k = sub.add_parser("keys", help="manage API keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key; prints it as the last line")
    kc.add_argument("--name", required=True)
    kc.add_argument("--role", required=True, choices=ROLES)
    kc.set_defaults(func=cmd_keys_create)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
