"""The `encore` command line: the front door for developers and self-hosters, and
what the DAGs run underneath (through jobs/main.py under spark-submit).

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args, cfg) -> int``; modules are imported only when their command runs, so
``encore --help`` is instant. Errors a person can fix print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from encore.platform.config import ConfigError
from encore.platform.errors import EncoreError

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("encore.tools.generate", "write synthetic raw logs and dimension tables"),
    "ingest": ("encore.ingest.job", "raw logs or a personal export -> canonical events"),
    "recaps": ("encore.recaps.job", "per-listener yearly recaps"),
    "facts": ("encore.facts.job", "differentially private global facts + budget ledger"),
    "render": ("encore.render.job", "story cards, summary PNGs and recap pages"),
    "campaign": ("encore.campaign.job", "campaign copy and billboards from released facts"),
    "export-user": ("encore.rights.job", "build a listener's download-your-data package"),
    "erase-user": ("encore.rights.job", "erase a listener from every output"),
    "publish": ("encore.publish.job", "manifest, run report and recap delivery list"),
    "run": ("encore.pipeline", "the whole yearly pipeline in order, locally"),
    "me": ("encore.me", "your own exports -> your recap for every year, one command"),
    "demo": ("encore.tools.demo", "generate a small dataset and run the yearly DAG end to end"),
    "bench": ("encore.tools.bench", "the benchmark: stage timings and a DuckDB cross-check"),
}


def add_common(p: argparse.ArgumentParser, *, data: bool = True, year: bool = False) -> None:
    """Flags shared by the data commands."""
    if data:
        p.add_argument(
            "--data",
            metavar="DIR",
            help="data root (local path or s3a:// / hdfs:// URI); default: conf paths.data_root",
        )
    if year:
        p.add_argument(
            "--year", type=_year, required=True, metavar="Y", help="the recap year, e.g. 2025"
        )
    p.add_argument(
        "--run-id",
        type=run_id,
        help="identifier for this run (default: time-based); the DAGs pass "
        "theirs: letters, digits, '.', '_' and '-', at most 128, starting and ending with a letter, "
        "digit or '_'",
    )
    p.add_argument(
        "--spark-profile", help="Spark profile from conf/encore.toml (local, test, cluster)"
    )


# what dags/encore_common.safe_run_id produces: the run id names staging folders and reports
_RUN_ID = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_])?")


def run_id(text: str) -> str:
    """--run-id: a file-name-safe word (it becomes part of paths), checked with fullmatch."""
    if not _RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id: use letters, digits, '.', '_' and '-' (at most 128, starting and "
            "ending with a letter, digit or '_'), e.g. 20261201T030000Z-1a2b3c"
        )
    return text


def _year(text: str) -> int:
    try:
        y = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}") from None
    if not 1970 <= y <= 2100:
        raise argparse.ArgumentTypeError(f"year out of range 1970..2100: {y}")
    return y


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="encore", description="Encore: yearly listening recaps and private fun facts."
    )
    parser.add_argument(
        "--config", help="settings file (default: $ENCORE_CONFIG or conf/encore.toml)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        _lazy_add_arguments(name, module, p)
    return parser


def _lazy_add_arguments(name: str, module: str, p: argparse.ArgumentParser) -> None:
    # Only the command being run is imported (keeps --help and the DAGs' parse fast).
    argv = sys.argv[1:]
    wanted = next((a for a in argv if not a.startswith("-") and a in COMMANDS), None)
    if wanted != name:
        return
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module:
            p.set_defaults(_missing=True)
            return
        raise
    hook = getattr(mod, "add_arguments_for", None)
    if hook is not None:
        hook(name, p)
    else:
        mod.add_arguments(p)


def _lock_for(args: argparse.Namespace):
    """Commands that write a year's outputs hold that year's lock (see locks.py)."""
    import contextlib

    from encore.platform import locks

    year, data = getattr(args, "year", None), getattr(args, "data", None)
    if data is None or args.command in (
        "run",
        "demo",
        "bench",
        "generate",
        "export-user",
        "erase-user",
    ):
        return (
            contextlib.nullcontext()
        )  # `run` locks stage by stage; the data-rights commands lock themselves
    return locks.hold(data, lock_name(args.command, year), getattr(args, "run_id", None))


def lock_name(command: str, year: int | None) -> str:
    """ingest writes every year's events: one lock for it; other stages lock a year."""
    return command if command == "ingest" or year is None else f"{command}-{year}"


def main(argv: list[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    prog = f"encore {args.command}"
    if getattr(args, "_missing", False):
        print(f"{prog}: error: this command is not built yet", file=sys.stderr)
        return 2
    try:
        from encore.platform import config

        cfg = config.load(args.config)
        if hasattr(args, "data") and not args.data:
            args.data = cfg["paths"]["data_root"]
        if getattr(args, "demo", False) is True:
            config.check_demo_root(args.data)  # the public demo secret: generated data only
        mod = importlib.import_module(args._module)
        runner = getattr(mod, "run_for", None)
        with _lock_for(args):
            code = runner(args.command, args, cfg) if runner else mod.run(args, cfg)
        return int(code or 0)
    except (EncoreError, ConfigError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return getattr(err, "exit_code", 2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no partial output was published", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
