"""The `encore` command line: the front door for developers and self-hosters, and
what the DAGs run underneath (through jobs/main.py under spark-submit).

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``main(args, cfg) -> int``, a thin adapter from the parsed flags to the stage's
``run(ctx, ...)`` (encore.platform.context); a module serving two commands has
``add_arguments_for(command, parser)`` and ``main_for(command, args, cfg)``. Only the
module of the command being run is imported, so ``encore --help`` is instant. Errors a
person can fix print one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from encore.platform.args import add_common, run_id  # noqa: F401 - run_id: the CLI's --run-id rule
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


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to declare its flags (the DAGs
    parse one command, and ``encore --help`` lists them all without importing any)."""
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
        if name == command:
            mod = importlib.import_module(module)
            hook = getattr(mod, "add_arguments_for", None)
            if hook is not None:
                hook(name, p)
            else:
                mod.add_arguments(p)
    return parser


def command_of(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is one), if any."""
    return next((a for a in argv if not a.startswith("-") and a in COMMANDS), None)


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
        "ingest",
        "export-user",
        "erase-user",
    ):
        return (
            contextlib.nullcontext()
        )  # `run` locks stage by stage; ingest and the data-rights commands lock themselves
    return locks.hold(data, locks.lock_name(args.command, year), getattr(args, "run_id", None))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(command_of(argv)).parse_args(argv)
    prog = f"encore {args.command}"
    try:
        from encore.platform import config

        cfg = config.load(args.config)
        if hasattr(args, "data") and not args.data:
            args.data = cfg["paths"]["data_root"]
        if getattr(args, "demo", False) is True:
            config.check_demo_root(args.data)  # the public demo secret: generated data only
        mod = importlib.import_module(COMMANDS[args.command][0])
        with _lock_for(args):
            if hasattr(mod, "main_for"):
                code = mod.main_for(args.command, args, cfg)
            else:
                code = mod.main(args, cfg)
        return int(code or 0)
    except (EncoreError, ConfigError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return getattr(err, "exit_code", 2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no partial output was published", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
