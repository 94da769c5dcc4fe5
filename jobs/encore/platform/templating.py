"""One way to make a Jinja environment for Encore's templates: render's cards and pages,
publish's emails and campaign's sandbox share what is escaped, what an undefined value
does and how blocks are trimmed; the first two also share the i18n set-up (gettext from
a .po catalog in the repository, Babel's numbers for the locale).

Only the standard library is imported here at module level: Jinja and Babel are
imported when an environment is made, so campaign's sandbox child still starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from babel.support import NullTranslations
    from jinja2 import Environment

SOURCE_LOCALE = "en"  # the templates' own language: it needs no catalog
# Jinja's default list leaves out SVG, and a card is an SVG with user-derived names in it
AUTOESCAPE = ("html", "htm", "xml", "svg")


def autoescape(*, for_string: bool = True, default: bool = False) -> Callable[[str | None], bool]:
    """Jinja's ``autoescape`` for Encore: on for the AUTOESCAPE file types; for
    templates made from a string, ``for_string``; for any other file, ``default``."""
    from jinja2 import select_autoescape

    return select_autoescape(list(AUTOESCAPE), default_for_string=for_string, default=default)


def options(*, for_string: bool = True, default: bool = False) -> dict[str, Any]:
    """The keyword arguments every Encore environment is made with (the sandbox too)."""
    from jinja2 import StrictUndefined

    return {
        "autoescape": autoescape(for_string=for_string, default=default),
        "undefined": StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }


def catalog_path(locales_dir: Path, locale: str, domain: str) -> Path:
    return Path(locales_dir) / locale / "LC_MESSAGES" / f"{domain}.po"


def catalog_locales(locales_dir: Path, domain: str) -> tuple[str, ...]:
    """English plus every locale that has a ``<domain>.po`` catalog under ``locales_dir``."""
    found = sorted(
        p.parent.parent.name for p in Path(locales_dir).glob(f"*/LC_MESSAGES/{domain}.po")
    )
    return (SOURCE_LOCALE, *[x for x in found if x != SOURCE_LOCALE])


@cache
def translations(locales_dir: Path, domain: str, locale: str) -> NullTranslations:
    """Babel translations parsed from the .po catalog in the repo (no compiled .mo);
    the source language's are empty."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    if locale == SOURCE_LOCALE:
        return NullTranslations()
    with open(catalog_path(locales_dir, locale, domain), "rb") as f:
        catalog = read_po(f, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=domain)


def html_lang(locale: str) -> str:
    return locale.replace("_", "-")


def environment(folder: Path, *, locale: str, locales_dir: Path, domain: str) -> Environment:
    """A Jinja environment for one locale's templates under ``folder``: the shared
    ``options``, ``jinja2.ext.i18n`` with gettext from the locale's ``domain`` catalog,
    a ``number`` filter (Babel, the locale's digits and separators) and the ``lang``
    (for ``<html lang>``) and ``locale`` globals. Templates are compiled once, never
    reloaded."""
    from babel import Locale
    from babel.numbers import format_decimal
    from jinja2 import Environment, FileSystemLoader

    env = Environment(
        loader=FileSystemLoader(str(folder)),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        **options(),
    )
    env.install_gettext_translations(translations(Path(locales_dir), domain, locale), newstyle=True)
    loc = Locale.parse(locale)
    env.filters["number"] = lambda n: format_decimal(n, locale=loc)
    env.globals.update(lang=html_lang(locale), locale=locale)
    return env
