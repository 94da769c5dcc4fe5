"""The shape of the package (docs/development.md, "The house"): every import inside
jobs/encore/ resolves, including the ones inside functions; no import cycle between
modules; no module reaches into another module's private names; long modules say why."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jobs" / "encore"
LONG_MODULE = 500  # lines; a longer module says at its top why it is one module


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of an encore module,
    wherever it stands in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "encore" or target.startswith("encore."):
                out.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("encore"):
                    out.append((alias.name, [], node.lineno))
    return out


def _edges(target: str, names: list[str]) -> set[str]:
    """The encore modules an import makes this module depend on."""
    deps = set()
    for n in names:
        sub = f"{target}.{n}"
        deps.add(sub if sub in MODULES else target)
    if not names:
        deps.add(target)
    return {d for d in deps if d in MODULES and d != "encore"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_encore_import_resolves(name):
    """An import inside a function is only run when that function is, so a broken one
    hides until a listener's erasure fails: import each target and look each name up."""
    for target, names, line in _imports(name, MODULES[name]):
        module = importlib.import_module(target)
        for n in names:
            assert hasattr(module, n) or f"{target}.{n}" in MODULES, (
                f"{MODULES[name].relative_to(PACKAGE.parent)}:{line}: "
                f"'from {target} import {n}' does not resolve"
            )


def test_no_import_cycle():
    graph = {
        name: set().union(*[_edges(t, ns) for t, ns, _ in _imports(name, path)] or [set()]) - {name}
        for name, path in MODULES.items()
    }
    # A package's __init__ re-exporting its own modules is not a cycle of theirs.
    for name in graph:
        if MODULES[name].name == "__init__.py":
            graph[name] = {d for d in graph[name] if not d.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_private_names_stay_private():
    """`from encore.x import _name` couples a module to another's insides."""
    bad = []
    for name, path in MODULES.items():
        for target, names, line in _imports(name, path):
            if target.rpartition(".")[0] == name.rpartition(".")[0] and target != name:
                continue  # a package's own modules may share helpers
            bad += [
                f"{path.relative_to(PACKAGE.parent)}:{line}: {target}.{n}"
                for n in names
                if n.startswith("_") and n != "__version__"
            ]
    assert not bad, "private names imported across packages:\n" + "\n".join(bad)


def test_long_modules_say_why():
    long = []
    for path in MODULES.values():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG_MODULE:
            head = ast.get_docstring(ast.parse(text)) or ""
            if "Why one module" not in head:
                long.append(f"{path.relative_to(PACKAGE.parent)} ({text.count(chr(10))} lines)")
    assert not long, (
        f"modules over {LONG_MODULE} lines without a 'Why one module' paragraph in "
        "their docstring:\n" + "\n".join(long)
    )


def _unannotated(fn: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> list[str]:
    """The parameters of ``fn`` without an annotation (self/cls of a method excepted),
    and ``return`` when it has no return annotation."""
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs]
    if method and params and params[0].arg in ("self", "cls"):
        params = params[1:]
    params += [p for p in (a.vararg, a.kwarg) if p is not None]
    missing = [p.arg for p in params if p.annotation is None]
    return missing + (["return"] if fn.returns is None else [])


def test_public_functions_have_type_hints():
    """Every public function and every public method of a public class says what it
    takes and what it gives back (docs/development.md, "The house")."""
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    bad = []
    for path in MODULES.values():
        rel = path.relative_to(PACKAGE.parent)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = [(n, n.name, False) for n in tree.body if isinstance(n, funcs)]
        for cls in tree.body:
            if isinstance(cls, ast.ClassDef) and not cls.name.startswith("_"):
                found += [
                    (n, f"{cls.name}.{n.name}", True) for n in cls.body if isinstance(n, funcs)
                ]
        for node, name, method in found:
            if node.name.startswith("_"):
                continue
            if missing := _unannotated(node, method):
                bad.append(f"{rel}:{node.lineno} {name} (no hint: {', '.join(missing)})")
    assert not bad, "public functions without complete type hints:\n" + "\n".join(bad)


STAGE_MODULES = [
    "encore.ingest.job",
    "encore.recaps.job",
    "encore.facts.job",
    "encore.render.job",
    "encore.publish.job",
    "encore.campaign.job",
    "encore.pipeline",
    "encore.me",
]


@pytest.mark.parametrize("name", STAGE_MODULES)
def test_a_stage_is_a_function_of_the_run_context(name):
    """docs/development.md: run(ctx, *, options) is the stage; main(args, cfg) only maps
    the flags onto it. Every option after ctx is keyword-only, so no caller passes an
    argparse namespace (or anything else) positionally."""
    import inspect

    module = importlib.import_module(name)
    params = list(inspect.signature(module.run).parameters.values())
    assert params[0].name == "ctx" and "RunContext" in str(params[0].annotation)
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]), params
    assert list(inspect.signature(module.main).parameters) in (["args", "cfg"], ["args", "_cfg"])


def test_the_cli_reads_only_the_argv_it_is_given(monkeypatch, capsys):
    """No sys.argv outside main(): the parser is built for the command in the argv it is
    given (never sys.argv's), and sys.argv is left as it was."""
    import sys

    from encore import cli

    monkeypatch.setattr(sys, "argv", ["encore", "bench", "--plays", "5"])
    with pytest.raises(SystemExit) as exited:  # parsed as recaps: its --year rule
        cli.main(["recaps", "--year", "1800"])
    assert exited.value.code == 2
    assert "encore recaps: error: argument --year" in capsys.readouterr().err
    assert sys.argv == ["encore", "bench", "--plays", "5"]
    args = cli.build_parser("ingest").parse_args(["ingest", "--user-id", "u1"])
    assert args.command == "ingest" and args.user_id == "u1"


def test_platform_imports_no_stage():
    """platform/ is what the stages share: it depends on none of them (a stage's rule
    that platform needs moves down into platform, as the text rules did)."""
    bad = [
        f"{MODULES[name].relative_to(PACKAGE.parent)}:{line}: {target}"
        for name in MODULES
        if name.startswith("encore.platform")
        for target, names, line in _imports(name, MODULES[name])
        if not (
            target.startswith("encore.platform")
            or (
                target == "encore"
                and all(f"encore.{n}".startswith("encore.platform") for n in names)
            )
        )
    ]
    assert not bad, "platform/ imports a stage:\n" + "\n".join(bad)


def test_an_unknown_stage_is_refused_before_any_work(tmp_path, capsys):
    """`encore run` and `encore bench` name the stages they know; the bench says so
    before it spends minutes generating data (no 'skipped (not built)' any more)."""
    from encore import cli, pipeline
    from encore.platform import config
    from encore.platform.context import RunContext
    from encore.platform.errors import EncoreError

    ctx = RunContext(data=str(tmp_path / "d"), cfg=config.load(), year=2025)
    with pytest.raises(EncoreError, match="unknown stage 'nope': the stages are ingest, recaps"):
        pipeline.run(ctx, stages=("ingest", "nope"))
    out = tmp_path / "bench"
    code = cli.main(["bench", "--plays", "5000", "--out", str(out), "--stages", "recaps,nope"])
    assert code == 2
    assert "--stages nope: not a stage; the stages are ingest, recaps, facts" in (
        capsys.readouterr().err
    )
    assert not out.exists() or not any(out.iterdir())  # nothing generated
