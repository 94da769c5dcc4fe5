"""Where marketing's campaign templates run: Jinja's immutable sandbox, in a child process.

The sandbox (``sandbox()``) refuses internals, caps ``*``, ``**`` and ``%``, wraps the
filters that can make a big string or list from a small template (``center``,
``format``, ``indent``, ``wordwrap``, ``replace``, ``join``, ``batch``, ``slice``),
refuses the ``str`` methods that pad or repeat (``ljust``, ``format``, ``zfill``...) and
has no ``namespace`` or ``lipsum``. Limits on output size and render time still apply.

Those checks run before an allocation; what they miss is stopped by the process:
``Renderer`` renders in a spawned child whose address space is capped
(``RLIMIT_AS``: what it uses at start plus ``RENDER_MEMORY_MB``) and which is killed
when a render takes longer than ``RENDER_SECONDS`` (one C call cannot be interrupted
by a signal handler; a kill always works). A render that hits a limit comes back as
``("refused", reason)``; the campaign reports the line as refused and goes on. A
template error (a syntax error, a TypeError, a division by zero) comes back as
``("error", reason)``: a bad input the campaign's author must fix.

Only the standard library, Jinja, this package's errors and the shared template
options (platform/templating.py, standard library only) are imported here: the child
starts fast and never sees Spark.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
from typing import TYPE_CHECKING

from encore.platform import templating
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_LINE_CHARS = 600  # a rendered line longer than this is refused
MAX_SVG_CHARS = 200_000
MAX_BUILT = MAX_SVG_CHARS  # the biggest string or list a filter may build
RENDER_SECONDS = 2.0  # per template render
RENDER_MEMORY_MB = 256  # address space the child may add to what it uses at start
STARTUP_SECONDS = 60.0
# str methods that pad, repeat or splice: the wrapped filters do the same, with limits
UNSAFE_STR_METHODS = frozenset(
    {
        "ljust",
        "rjust",
        "center",
        "zfill",
        "expandtabs",
        "format",
        "format_map",
        "join",
        "replace",
        "translate",
        "maketrans",
    }
)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")


class RenderLimit(EncoreError):
    """A template tried to produce too much output, or took too long."""


# --------------------------------------------------------------------------------------
# What templates see
# --------------------------------------------------------------------------------------
class Record:
    """A read-only mapping for templates. Unlike a dict it has no methods, so a missing
    key such as by.genre['pop'] is simply undefined (the line drops) instead of
    reaching dict.pop, which the sandbox would refuse."""

    __slots__ = ("_data",)

    def __init__(self, data: dict):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data


def frozen(value: object) -> object:
    """Dicts become Records and lists tuples, all the way down."""
    if isinstance(value, dict):
        return Record({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


# --------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------
def _too_big(what: str) -> RenderLimit:
    return RenderLimit(f"{what} would build more than {MAX_BUILT} characters")


def _check_printf(fmt, args) -> None:
    numbers = iter(a for a in (args if isinstance(args, tuple) else (args,)) if isinstance(a, int))
    for width, precision in _PRINTF.findall(str(fmt)):
        for n in (width, precision):
            value = next(numbers, 0) if n == "*" else int(n) if n else 0
            if abs(value) > MAX_BUILT:
                raise _too_big(f"a format width of {value}")


def _size_filters(filters: dict) -> dict:  # noqa: C901 - small wrappers; mccabe sums their branches
    """The size-producing filters, each refusing before it allocates too much."""
    original = dict(filters)

    def center(value, width=80):
        if isinstance(width, int) and width > MAX_BUILT:
            raise _too_big(f"center({width})")
        return original["center"](value, width)

    def format_(value, *args, **kwargs):
        _check_printf(value, args)
        out = original["format"](value, *args, **kwargs)
        if len(out) > MAX_BUILT:
            raise _too_big("format")
        return out

    def indent(s, width=4, first=False, blank=False):
        pad = width if isinstance(width, int) else len(str(width))
        if pad * (str(s).count("\n") + 1) + len(str(s)) > MAX_BUILT:
            raise _too_big(f"indent({width!r})")
        return original["indent"](s, width, first, blank)

    def wordwrap(
        environment, s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True
    ):
        sep = len(wrapstring) if isinstance(wrapstring, str) else 1
        if (
            len(str(s)) * (1 + sep) > MAX_BUILT
            and len(str(s)) // max(int(width), 1) * sep > MAX_BUILT
        ):
            raise _too_big("wordwrap")
        return original["wordwrap"](
            environment, s, width, break_long_words, wrapstring, break_on_hyphens
        )

    def replace(eval_ctx, s, old, new, count=None):
        text, old, new = str(s), str(old), str(new)
        times = (
            (len(text) + 1 if old == "" else text.count(old))
            if count is None
            else min(int(count), len(text) + 1)
        )
        if len(text) + times * max(0, len(new) - len(old)) > MAX_BUILT:
            raise _too_big("replace")
        return original["replace"](eval_ctx, s, old, new, count)

    def join(eval_ctx, value, d="", attribute=None):
        items = list(value)
        if (
            len(items) > MAX_BUILT
            or sum(len(str(x)) for x in items) + len(str(d)) * max(0, len(items) - 1) > MAX_BUILT
        ):
            raise _too_big("join")
        return original["join"](eval_ctx, items, d, attribute)

    def batch(value, linecount, fill_with=None):
        if int(linecount) > MAX_BUILT:
            raise _too_big(f"batch({linecount})")
        return original["batch"](value, linecount, fill_with)

    def slice_(eval_ctx, value, slices, fill_with=None):
        if int(slices) > MAX_BUILT:
            raise _too_big(f"slice({slices})")
        return original["slice"](eval_ctx, value, slices, fill_with)

    # keep each original's pass_environment / pass_eval_context marker
    for name, fn in (
        ("wordwrap", wordwrap),
        ("replace", replace),
        ("join", join),
        ("slice", slice_),
    ):
        fn.jinja_pass_arg = original[name].jinja_pass_arg
    return {
        "center": center,
        "format": format_,
        "indent": indent,
        "wordwrap": wordwrap,
        "replace": replace,
        "join": join,
        "batch": batch,
        "slice": slice_,
    }


def sandbox(*, autoescape: bool = False) -> ImmutableSandboxedEnvironment:
    """Jinja's immutable sandbox with StrictUndefined, capped operators, wrapped
    size-producing filters, no padding str methods, no namespace()/lipsum()."""
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class CampaignSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**", "%"])

        def call_binop(self, context, operator, left, right):
            if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
                raise SecurityError("exponent too large in a campaign template")
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if (
                        isinstance(seq, str | list | tuple)
                        and isinstance(times, int)
                        and len(seq) * times > MAX_SVG_CHARS
                    ):
                        raise SecurityError("output too large in a campaign template")
            if operator == "%" and isinstance(left, str):
                _check_printf(left, right)
            return super().call_binop(context, operator, left, right)

        def wrap_str_format(self, value):  # noqa: ARG002 - Jinja's hook, called with the value
            return None  # str.format / format_map are refused below, not wrapped: '{:>400000000}'

        def is_safe_attribute(self, obj, attr, value):
            if isinstance(obj, str) and attr in UNSAFE_STR_METHODS:
                return False
            return super().is_safe_attribute(obj, attr, value)

    # Encore's shared set-up (templating.options): the same escaping, StrictUndefined,
    # trimming; a campaign template is a string, escaped when its output is SVG/HTML.
    env = CampaignSandbox(**templating.options(for_string=autoescape, default=autoescape))
    for name in ("namespace", "lipsum"):  # a mutable object (doubling loops); free text of any size
        env.globals.pop(name, None)
    env.filters.update(_size_filters(env.filters))
    return env


@contextlib.contextmanager
def _time_limit(seconds: float, what: str):
    """SIGALRM-based limit (main thread only); the parent's kill is the hard limit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum, frame):  # noqa: ARG001 - the signature of a signal handler
        raise RenderLimit(f"{what}: rendering took longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def render_limited(template: Template, context: dict, *, max_chars: int, what: str) -> str:
    """Render streaming, refusing output beyond ``max_chars`` or ``RENDER_SECONDS``."""
    out, size = [], 0
    with _time_limit(RENDER_SECONDS, what):
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > max_chars:
                raise RenderLimit(f"{what}: output longer than {max_chars} characters")
            out.append(chunk)
    return "".join(out)


# --------------------------------------------------------------------------------------
# The child process
# --------------------------------------------------------------------------------------
def _vm_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(conn, memory_mb: int) -> None:
    """Render requests from ``conn`` until it closes, under an address-space cap."""
    import resource

    from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

    envs = {False: sandbox(autoescape=False), True: sandbox(autoescape=True)}
    envs[False].from_string("{{ x }}").render(x=1)  # load what rendering needs before the cap
    base = _vm_bytes()
    if base:
        cap = base + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cache: dict = {}
    conn.send(("ready", base))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        autoescape, source, name, context, max_chars, what = request
        try:
            template = cache.get((autoescape, source))
            if template is None:
                template = envs[autoescape].from_string(source)
                template.name = name
                cache[(autoescape, source)] = template
            answer = (
                "ok",
                render_limited(
                    template,
                    {k: frozen(v) for k, v in context.items()},
                    max_chars=max_chars,
                    what=what,
                ),
            )
        except MemoryError:
            answer = ("refused", f"{what}: needs more than {memory_mb} MB of memory")
        except RecursionError:
            answer = ("refused", f"{what}: nested too deeply")
        except RenderLimit as err:
            answer = ("refused", str(err) if str(err).startswith(what) else f"{what}: {err}")
        except UndefinedError as err:
            answer = ("undefined", err.message or "")
        except SecurityError as err:
            answer = ("security", str(err))
        except TemplateSyntaxError as err:
            answer = ("error", f"template syntax error on line {err.lineno}: {err.message}")
        except (
            Exception
        ) as err:  # TypeError, ZeroDivisionError, ValueError...: the template's fault
            answer = ("error", f"{type(err).__name__}: {err}")
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("refused", f"{what}: needs more than {memory_mb} MB of memory"))


class Renderer:
    """A child process rendering campaign templates; restarted after a kill.

    ``render`` returns (status, text): ``ok`` with the output; ``refused`` (a limit:
    size, time, memory) or ``error`` (the template is broken) or ``undefined`` (a
    value it uses is missing) or ``security`` (the sandbox refused it) with the reason."""

    def __init__(self, *, seconds: float = RENDER_SECONDS, memory_mb: int = RENDER_MEMORY_MB):
        self.seconds, self.memory_mb = seconds, memory_mb
        self._proc = self._conn = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # never fork a Spark driver's threads
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_child, args=(child, self.memory_mb), name="encore-campaign-render", daemon=True
        )
        proc.start()
        child.close()
        if not parent.poll(STARTUP_SECONDS):
            proc.kill()
            proc.join()
            raise EncoreError(
                f"the campaign template renderer did not start within {STARTUP_SECONDS:g} s"
            )
        parent.recv()
        self._proc, self._conn = proc, parent

    def _stop(self) -> int | None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is None:
            return None
        if proc.is_alive():
            proc.kill()
        proc.join()
        return proc.exitcode

    def close(self) -> None:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            with contextlib.suppress(OSError, BrokenPipeError):
                self._conn.send(None)
            self._proc.join(timeout=2)
        self._stop()

    def render(
        self,
        source: str,
        context: dict,
        *,
        autoescape: bool,
        max_chars: int,
        what: str,
        name: str | None = None,
    ) -> tuple[str, str]:
        if self._proc is None or not self._proc.is_alive():
            self._stop()
            self._start()
        try:
            self._conn.send((autoescape, source, name, context, max_chars, what))
            if self._conn.poll(self.seconds + 0.5):
                return self._conn.recv()
        except (EOFError, OSError):
            code = self._stop()
            return (
                "refused",
                f"{what}: the renderer stopped (exit code {code}): out of memory or crashed",
            )
        self._stop()
        return "refused", f"{what}: rendering took longer than {self.seconds:g} s (stopped)"
