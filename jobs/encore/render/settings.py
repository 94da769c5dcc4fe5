"""The ``[render]`` section of conf/encore.toml: which language a listener's recap is
written in, and where the pages will be hosted.

    [render]
    default_locale = "en"                 # used when the country is unknown or unmapped
    base_url = ""                         # public URL of site/ ("" = links stay relative)
    [render.country_locales]
    DE = "de"                             # ISO 3166-1 alpha-2 country -> supported locale

A locale is supported when templates/locales/<locale>/LC_MESSAGES/encore.po exists
(English is the templates' source language and needs no catalog). Importing this module
registers the section with ``config``; ``settings(cfg)`` gives the filled-in values.

How many entries a top list shows is not a [render] key: it is ``[recaps] top_n``, the
rule the recaps were computed with, read here once. The cards have room for
``CARD_ROWS`` entries, so a larger ``top_n`` stops render with a ConfigError instead of
drawing rows off the card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from encore.platform import config, templating
from encore.platform.config import ConfigError

SOURCE_LOCALE = templating.SOURCE_LOCALE
# The most entries a top list's card lays out (templates/cards/top_songs.svg and
# summary.svg: five rows). A layout limit, not the rule: the rule is [recaps] top_n.
CARD_ROWS = 5
_COUNTRY = re.compile(r"^[A-Z]{2}$")
KEYS = ("default_locale", "base_url", "country_locales")


def templates_dir() -> Path:
    return config.REPO_ROOT / "templates"


def supported_locales() -> tuple[str, ...]:
    """English plus every locale that has a catalog under templates/locales/."""
    return templating.catalog_locales(templates_dir() / "locales", "encore")


@dataclass(frozen=True)
class RenderSettings:
    default_locale: str = SOURCE_LOCALE
    base_url: str = ""
    country_locales: dict[str, str] = field(default_factory=dict)
    top_n: int = CARD_ROWS  # settings(cfg) gives [recaps] top_n

    def locale_for(self, country: str | None) -> str:
        if country:
            return self.country_locales.get(country.strip().upper(), self.default_locale)
        return self.default_locale


def _validate(body: dict) -> None:
    """Raise ConfigError("<key>: <problem>"); config prefixes it with the file and section."""
    for key in body:
        if key not in KEYS:
            raise ConfigError(f"{key}: unknown key (known: {', '.join(KEYS)})")
    known = supported_locales()
    default = body.get("default_locale", SOURCE_LOCALE)
    if not isinstance(default, str) or default not in known:
        raise ConfigError(f"default_locale: must be one of {', '.join(known)}, got {default!r}")
    base = body.get("base_url", "")
    if not isinstance(base, str) or (base and not re.match(r"^https?://[^\s\"'<>]+$", base)):
        raise ConfigError(f"base_url: must be empty or an http(s):// URL, got {base!r}")
    mapping = body.get("country_locales", {})
    if not isinstance(mapping, dict):
        raise ConfigError('country_locales: must be a table of COUNTRY = "locale"')
    for country, locale in mapping.items():
        if not _COUNTRY.match(country):
            raise ConfigError(
                f"country_locales.{country}: not a two-letter upper-case country code"
            )
        if not isinstance(locale, str) or locale not in known:
            raise ConfigError(
                f"country_locales.{country}: must be one of {', '.join(known)}, got {locale!r}"
            )


def settings(cfg: dict) -> RenderSettings:
    """The render settings of a validated config (defaults when [render] is absent)."""
    body = cfg.get("render", {})
    _validate(body)
    top_n = cfg["recaps"]["top_n"]
    if top_n > CARD_ROWS:
        raise ConfigError(
            f"recaps.top_n: the cards have room for {CARD_ROWS} entries of a top list, got {top_n}"
        )
    base = body.get("base_url", "")
    return RenderSettings(
        default_locale=body.get("default_locale", SOURCE_LOCALE),
        base_url=(base.rstrip("/") + "/") if base else "",
        country_locales=dict(body.get("country_locales", {})),
        top_n=top_n,
    )


config.register_section("render", validator=_validate)
