"""The `encore` command line: the front door for developers and self-hosters, and
what the DAGs run underneath (through jobs/main.py under spark-submit).

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``run(args, cfg) -> int``; modules are imported only when their command runs, so
``encore --help`` is instant. Errors a person can fix print one line and exit 2.
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
    return locks.hold(data, locks.lock_name(args.command, year), getattr(args, "run_id", None))


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
