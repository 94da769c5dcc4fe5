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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from encore.platform import config
from encore.platform.config import ConfigError

SOURCE_LOCALE = "en"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
KEYS = ("default_locale", "base_url", "country_locales")


def templates_dir() -> Path:
    return config.REPO_ROOT / "templates"


def supported_locales() -> tuple[str, ...]:
    """English plus every locale that has a catalog under templates/locales/."""
    root = templates_dir() / "locales"
    found = sorted(p.parent.parent.name for p in root.glob("*/LC_MESSAGES/encore.po"))
    return (SOURCE_LOCALE, *[x for x in found if x != SOURCE_LOCALE])


@dataclass(frozen=True)
class RenderSettings:
    default_locale: str = SOURCE_LOCALE
    base_url: str = ""
    country_locales: dict[str, str] = field(default_factory=dict)

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
    base = body.get("base_url", "")
    return RenderSettings(
        default_locale=body.get("default_locale", SOURCE_LOCALE),
        base_url=(base.rstrip("/") + "/") if base else "",
        country_locales=dict(body.get("country_locales", {})),
    )


config.register_section("render", validator=_validate)
