"""`python -m core …`: the command line over the same services the pages call."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import uuid

from core.config import Tier
from core.errors import PlotStudioError


def _emit(data: object) -> None:
    """Commands that return data print it as JSON on their last stdout line."""
    print(json.dumps(data, default=str))


def _account(email: str):
    from core.services.accounts import account_by_email
    return account_by_email(email)


def cmd_db(args: argparse.Namespace) -> int:
    from db import migrate
    if args.action == "upgrade":
        stored = migrate.upgrade(args.revision or "head", reset_app_password=args.reset_app_password)
        if stored:
            print(f"Generated a password for the app's database role; it is in {stored} (readable by you only).",
                  file=sys.stderr)
    else:
        migrate.downgrade(args.revision or "base")
    _emit({"revision": migrate.current_revision()})
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create an account; the password comes on stdin (never on the command line, where `ps` shows it)."""
    from core.services import accounts
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else accounts.generated_password()
    account = accounts.create_account_as_operator(args.email, password, is_admin=args.admin or None,
                                                  tier=Tier(args.tier))
    # A generated password is shown once, in the JSON line; a given one is never echoed.
    _emit({"id": account.id, "email": account.email, "is_admin": account.is_admin, "tier": account.tier.value,
           **({} if args.password_stdin else {"password": password})})
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from core import jobs
    jobs.run_worker(name=args.name, concurrency=args.concurrency)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from core.doctor import run_checks
    checks = run_checks()
    for check in checks:
        print(f"{'ok ' if check.ok else 'BAD'}  {check.name:<20} {check.detail}")
    _emit({"ok": all(c.ok for c in checks), "checks": [c.__dict__ for c in checks]})
    return 0 if all(c.ok for c in checks) else 1


def wait_for_job(user_id: uuid.UUID, job_id: uuid.UUID) -> dict:
    """Follow a job until it ends, printing its progress to stderr."""
    from core import jobs
    last = None
    while True:
        job = jobs.get_job(user_id, job_id)
        line = f"[{job.status}] {job.progress_done}/{job.progress_total} {job.message}"
        if line != last:
            print(line, file=sys.stderr)
            last = line
        if job.status in ("succeeded", "failed", "cancelled"):
            if job.status != "succeeded":
                raise PlotStudioError(job.error or job.message)
            return job.result or {}
        time.sleep(0.3)


def cmd_purge_cache(args: argparse.Namespace) -> int:
    from core.services import maintenance
    account = _account(args.user)
    job_id = maintenance.start_cache_purge(account.id)
    result = wait_for_job(account.id, job_id) if args.wait else {}
    _emit({"job_id": job_id, **result})
    return 0


def _run_here(account, job_id: uuid.UUID, work) -> dict:
    """Run a recorded job in this process, progress on stderr; its result, or its reason as an error."""
    from core import jobs

    def echo(done: int, total: int, message: str) -> None:
        print(f"{done}/{total} {message}" if total else message, file=sys.stderr)

    jobs.run_job(str(job_id), str(account.id), work, jobs.get_job(account.id, job_id).params, echo=echo)
    job = jobs.get_job(account.id, job_id)
    if job.status != "succeeded":
        raise PlotStudioError(job.error or job.message)
    return job.result


def cmd_ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.services import library
    path = Path(args.path)
    if not path.is_file():
        raise PlotStudioError(f"No file at {path}.")
    if args.preview:
        _emit(library.preview_split(path.name, path.read_bytes()))
        return 0
    if not args.user:
        raise PlotStudioError("Say whose library the book goes into: --user EMAIL.")
    account = _account(args.user)
    job_id = library.start_ingest(account.id, path.name, path.read_bytes(), title=args.title, queue=False)
    _emit(_run_here(account, job_id, library.ingest_book))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from core.services import library
    account = _account(args.user)
    job_id = library.start_reindex(account.id, uuid.UUID(args.book), queue=False)
    _emit(_run_here(account, job_id, library.reindex_book))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from core.retrieval import search_book
    account = _account(args.user)
    hits = search_book(account.id, uuid.UUID(args.book), args.query, k=args.k)
    _emit([dataclasses.asdict(hit) for hit in hits])
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from core.services import plot
    account = _account(args.user)
    job_id = plot.start_generation(account.id, uuid.UUID(args.book), engine=args.engine,
                                   instructions=args.instructions, include_matter=args.include_matter,
                                   include_character_images=args.include_character_images, queue=False)
    result = _run_here(account, job_id, plot.generate_plot_overview)
    _emit(plot.get_version(account.id, uuid.UUID(args.book), result["version"]).as_dict())
    return 0


def cmd_script(args: argparse.Namespace) -> int:
    from core.services import scripts
    account = _account(args.user)
    job_id = scripts.start_scripts(account.id, uuid.UUID(args.book), chapter_numbers=None if args.all else [args.chapter],
                                   style=args.style, engine=args.engine, queue=False)
    result = _run_here(account, job_id, scripts.generate_scripts)
    _emit({"scripts": [{key: item[key] for key in ("chapter", "script_id", "version", "style", "engine",
                                                    "plot_enhanced", "character_enhanced", "pages", "scenes",
                                                    "fountain")} for item in result["scripts"]]})
    return 0


def cmd_script_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.services import scripts
    account = _account(args.user)
    path = Path(args.path)
    if not path.is_file():
        raise PlotStudioError(f"No file at {path}.")
    chapter = scripts.chapter_by_number(account.id, uuid.UUID(args.book), args.chapter)
    row = scripts.import_fountain(account.id, chapter.id, path.read_bytes(), filename=path.name)
    _emit(scripts.version_summary(account.id, row))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.services import scripts
    account = _account(args.user)
    book_id = uuid.UUID(args.book)
    if args.chapter is None:
        name, data = scripts.export_book(account.id, book_id, args.format)
    else:
        chapter = scripts.chapter_by_number(account.id, book_id, args.chapter)
        versions = scripts.list_versions(account.id, chapter.id)
        if not versions:
            raise PlotStudioError(f"Chapter {args.chapter} has no script yet: generate or import one first.")
        name, data = scripts.export_version(account.id, versions[0].id, args.format)
    out = Path(args.out)
    out.write_bytes(data)
    _emit({"path": str(out), "format": args.format, "bytes": len(data), "suggested_name": name})
    return 0


def cmd_characters(args: argparse.Namespace) -> int:
    from core.services import characters
    account = _account(args.user)
    job_id = characters.start_board(account.id, uuid.UUID(args.book), engine=args.engine, queue=False)
    _run_here(account, job_id, characters.generate_character_board)
    cards = characters.list_characters(account.id, uuid.UUID(args.book))
    _emit({"characters": [{"id": card.key, "name": card.name, "aliases": card.aliases, "role": card.role,
                           "archetypes": card.archetypes, "mentions": card.mentions,
                           "dialogue_lines": card.dialogue_lines, "chapters": card.chapters_present,
                           "want": card.want, "version": card.version, "label": card.label} for card in cards]})
    return 0


def cmd_portrait(args: argparse.Namespace) -> int:
    from core.services import characters
    account = _account(args.user)
    key = uuid.UUID(args.character)
    portrait_id = characters.regenerate_portrait(account.id, key, prompt=args.prompt)
    info = next(p for p in characters.portrait_history(account.id, key) if p.id == portrait_id)
    _emit({"portrait_id": portrait_id, "character_id": key, "version": info.version, "provider": info.provider,
           "model": info.model, "prompt": info.prompt,
           "earlier": [p.id for p in characters.portrait_history(account.id, key) if p.id != portrait_id]})
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m core", description="Plot Studio from the command line.")
    commands = root.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="migrate the database schema")
    db.add_argument("action", choices=["upgrade", "downgrade"])
    db.add_argument("--revision", help="target revision (default: head for upgrade, base for downgrade)")
    db.add_argument("--reset-app-password", action="store_true",
                    help="give the existing app role a new password (APP_DB_PASSWORD, else a generated one)")
    db.set_defaults(func=cmd_db)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create an account")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--tier", default=Tier.FREE.value, choices=[t.value for t in Tier])
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin; without it one is generated and "
                             "printed once")
    create.set_defaults(func=cmd_user_create)

    worker = commands.add_parser("worker", help="run a job worker in the foreground")
    worker.add_argument("--name", default="worker")
    worker.add_argument("--concurrency", type=_positive, default=1)
    worker.set_defaults(func=cmd_worker)

    doctor = commands.add_parser("doctor", help="check the installation; non-zero exit if anything is wrong")
    doctor.set_defaults(func=cmd_doctor)

    ingest = commands.add_parser("ingest", help="read a book file into the writer's library")
    ingest.add_argument("path")
    ingest.add_argument("--user", metavar="EMAIL", help="whose library (not needed with --preview)")
    ingest.add_argument("--title")
    ingest.add_argument("--preview", action="store_true",
                        help="only show how the book splits into chapters; store nothing")
    ingest.set_defaults(func=cmd_ingest)

    reindex = commands.add_parser("reindex", help="re-embed a book with the current embedding model")
    reindex.add_argument("book", help="book id", type=_book_id)
    reindex.add_argument("--user", required=True, metavar="EMAIL")
    reindex.set_defaults(func=cmd_reindex)

    search = commands.add_parser("search", help="semantic search in one book")
    search.add_argument("book", help="book id", type=_book_id)
    search.add_argument("query")
    search.add_argument("--user", required=True, metavar="EMAIL")
    search.add_argument("-k", type=_positive, default=10)
    search.set_defaults(func=cmd_search)

    purge = commands.add_parser("purge-cache", help="delete a writer's expired cache entries (a job)")
    purge.add_argument("--user", required=True, metavar="EMAIL")
    purge.add_argument("--wait", action="store_true", help="follow the job until it ends")
    purge.set_defaults(func=cmd_purge_cache)

    plot = commands.add_parser("plot", help="generate the book's plot overview (printed as JSON with citations and usage)")
    plot.add_argument("book", help="book id", type=_book_id)
    plot.add_argument("--user", required=True, metavar="EMAIL")
    plot.add_argument("--engine", choices=["offline", "llm"], help="default: llm when a model is configured")
    plot.add_argument("--instructions", metavar="TEXT", help="steer the generation (stored with the version)")
    plot.add_argument("--include-matter", action="store_true", help="also read front and back matter")
    plot.add_argument("--include-character-images", action="store_true",
                      help="also draw portraits for the board's main characters that have none")
    plot.set_defaults(func=cmd_plot)

    script = commands.add_parser("script", help="write a chapter (or every chapter) as a screenplay")
    script.add_argument("book", help="book id", type=_book_id)
    which = script.add_mutually_exclusive_group(required=True)
    which.add_argument("--chapter", type=int, metavar="N")
    which.add_argument("--all", action="store_true", help="every chapter, in order (one job)")
    script.add_argument("--style", default="cinematic", help="cinematic, tv, stage or audio")
    script.add_argument("--engine", choices=["offline", "llm"], help="default: llm when a model is configured")
    script.add_argument("--user", required=True, metavar="EMAIL")
    script.set_defaults(func=cmd_script)

    script_import = commands.add_parser("script-import", help="import a .fountain file as a chapter's newest script")
    script_import.add_argument("book", help="book id", type=_book_id)
    script_import.add_argument("--chapter", type=int, required=True, metavar="N")
    script_import.add_argument("path", metavar="FILE.fountain")
    script_import.add_argument("--user", required=True, metavar="EMAIL")
    script_import.set_defaults(func=cmd_script_import)

    export = commands.add_parser("export", help="a chapter's newest script, or the whole book's, as Fountain/FDX/PDF")
    export.add_argument("book", help="book id", type=_book_id)
    export.add_argument("--format", required=True, choices=["fountain", "fdx", "pdf"])
    export.add_argument("--out", required=True, metavar="PATH")
    export.add_argument("--chapter", type=int, metavar="N", help="without it: every chapter, with a title page")
    export.add_argument("--user", required=True, metavar="EMAIL")
    export.set_defaults(func=cmd_export)

    characters = commands.add_parser("characters", help="find and profile the book's characters (the board, as JSON)")
    characters.add_argument("book", help="book id", type=_book_id)
    characters.add_argument("--user", required=True, metavar="EMAIL")
    characters.add_argument("--engine", choices=["offline", "llm"], default="offline")
    characters.set_defaults(func=cmd_characters)

    portrait = commands.add_parser("portrait", help="make a new portrait of a character (earlier ones are kept)")
    portrait.add_argument("character", help="character id (the `id` that `characters` printed)", type=_character_id)
    portrait.add_argument("--user", required=True, metavar="EMAIL")
    portrait.add_argument("--prompt", metavar="TEXT", help="a custom prompt, kept with the image")
    portrait.set_defaults(func=cmd_portrait)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PlotStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback: one sentence; the details are for the log
        import logging
        logging.getLogger("core").debug("command failed", exc_info=True)
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        print(f"error: the command failed unexpectedly ({type(exc).__name__}: {detail}); "
              "`python -m core doctor` tells what is wrong.", file=sys.stderr)
        return 1


def _book_id(value: str) -> str:
    """A book id as the CLI takes it: a UUID, else argparse prints the usage and this sentence."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}” is not a book id (the id `ingest` printed, a UUID)") from None


def _character_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}” is not a character id (the `id` that `characters` printed)") from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"“{value}” is not a whole number of at least 1")
    return int(value)


if __name__ == "__main__":
    sys.exit(main())
