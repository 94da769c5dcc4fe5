"""A campaign's folder, read and checked: ``templates/campaign/<name>/``.

- ``manifest.toml`` — title, description, default locales and markets, the catalog
  facts it uses (``facts = [...]``) and campaign-specific facts (``[facts.<id>]``,
  the shape of ``[facts.catalog.*]``: a phrase, a track, a date...);
- ``copy.<locale>.toml`` — the lines, each ``[[line]]`` with ``id``, ``channel``
  (``billboard``, ``social``, ``press``), ``facts`` (the ids it uses), ``text``, a
  Jinja template, and optionally ``bounds`` (facts among ``facts`` whose suppressed
  count the line may state as its 95 % upper bound, ``f.<id>.at_most``);
- ``billboard.svg`` — the wide billboard image, one per billboard line (optional: a
  campaign without it exports no billboard images).

:func:`load_campaign` reads all of it (the only I/O of a campaign before its export is
written) and refuses, naming the file and the key, what is unknown or malformed. A
locale must have a catalog under ``templates/locales/``: the words around a campaign's
numbers ("about 28,800") come from it (encore.campaign.numbers).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from encore.campaign.numbers import catalog_locale
from encore.facts import catalog as fc
from encore.platform import config
from encore.platform.errors import EncoreError
from encore.render.settings import supported_locales

CAMPAIGNS_DIR = config.REPO_ROOT / "templates" / "campaign"
# What a copy line can name beyond the manifest's facts: the extra phrases and tracks
# an export asks for (``--phrase`` / ``--track``, the form's extra_phrases / extra_tracks).
EXTRA_GROUPS = ("extra_phrases", "extra_tracks")
MAX_EXTRAS = 10  # per kind and export
MAX_EXTRA_CHARS = 100  # a phrase, an artist, a title
_TRACK_SEPARATORS = (" — ", " - ")
# control characters (C0, DEL, C1) and bidirectional overrides: the form's JSON schema
# (dags/encore_campaign.py) refuses the same
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
CHANNELS = ("billboard", "social", "press")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LOCALE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_MARKET = re.compile(r"[A-Z]{2}")


@dataclass
class Line:
    id: str
    channel: str
    facts: tuple[str, ...]
    text: str
    bounds: tuple[
        str, ...
    ] = ()  # facts whose suppressed counts the line may state as "fewer than N"


@dataclass
class Campaign:
    name: str
    title: str
    description: str
    locales: list[str]
    markets: list[str]
    catalog_facts: list[str]
    own_facts: list[fc.FactSpec]
    copy: dict[str, list[Line]] = field(default_factory=dict)  # locale -> lines
    folder: Path | None = None
    billboard: str | None = None  # billboard.svg's template, None without one

    def specs(self, cfg: dict) -> dict[str, fc.FactSpec]:
        catalog = {s.id: s for s in fc.catalog(cfg)}
        out = {}
        for fid in self.catalog_facts:
            if fid not in catalog:
                raise EncoreError(
                    f"campaign {self.name}: manifest.toml facts: {fid!r} is not in the fact "
                    "catalog (conf/encore.toml [facts.catalog]); declare it under [facts.<id>]"
                )
            out[fid] = catalog[fid]
        for spec in self.own_facts:
            if spec.id in out:
                raise EncoreError(f"campaign {self.name}: fact {spec.id!r} is declared twice")
            out[spec.id] = spec
        return out


def list_campaigns(root: Path = CAMPAIGNS_DIR) -> list[str]:
    return (
        sorted(p.name for p in root.iterdir() if (p / "manifest.toml").is_file())
        if root.is_dir()
        else []
    )


def load_campaign(name: str, root: Path = CAMPAIGNS_DIR) -> Campaign:
    """Read and check a campaign folder; errors name the file and the key."""
    if not _NAME.fullmatch(name or ""):
        raise EncoreError(
            f"--campaign {name!r}: use the folder name of a campaign ({', '.join(list_campaigns(root))})"
        )
    folder = root / name
    manifest_path = folder / "manifest.toml"
    if not manifest_path.is_file():
        raise EncoreError(
            f"--campaign {name}: no {manifest_path} (known: {', '.join(list_campaigns(root)) or 'none'})"
        )
    try:
        m = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise EncoreError(f"{manifest_path}: not valid TOML: {err}") from None
    allowed = {"title", "description", "locales", "markets", "facts"}
    for k in m:
        if k not in allowed:
            raise EncoreError(
                f"{manifest_path}: unknown key {k!r} (known: {', '.join(sorted(allowed))})"
            )
    facts_decl = m.get("facts", {})
    if isinstance(facts_decl, list):  # only catalog facts
        catalog_ids, own = facts_decl, {}
    elif isinstance(facts_decl, dict):
        catalog_ids = facts_decl.get("catalog", [])
        own = {k: v for k, v in facts_decl.items() if k != "catalog"}
    else:
        raise EncoreError(f"{manifest_path}: facts must be a list of catalog ids or a table")
    own_specs = []
    for fid, body in own.items():
        try:
            own_specs.append(fc.spec_from_dict(fid, body, where=f"facts.{fid}"))
        except config.ConfigError as err:
            raise EncoreError(f"{manifest_path}: {err}") from None
    locales = m.get("locales", ["en"])
    markets = m.get("markets", [])
    for loc in locales:
        check_locale(loc, str(manifest_path))
    for mk in markets:
        check_market(mk, str(manifest_path))
    camp = Campaign(
        name,
        m.get("title", name),
        m.get("description", ""),
        locales,
        markets,
        list(catalog_ids),
        own_specs,
        folder=folder,
    )
    billboard = folder / "billboard.svg"
    if billboard.is_file():
        camp.billboard = billboard.read_text(encoding="utf-8")
    for path in sorted(folder.glob("copy.*.toml")):
        locale = path.name[len("copy.") : -len(".toml")]
        check_locale(locale, str(path))
        camp.copy[locale] = _load_copy(path)
    return camp


def check_locale(loc: str, where: str) -> None:
    from babel import Locale, UnknownLocaleError

    if not isinstance(loc, str) or not _LOCALE.fullmatch(loc):
        raise EncoreError(f"{where}: locale {loc!r} must look like en or pt_BR")
    try:
        Locale.parse(loc)
    except (UnknownLocaleError, ValueError):
        raise EncoreError(f"{where}: unknown locale {loc!r}") from None
    if catalog_locale(loc) is None:
        raise EncoreError(
            f"{where}: locale {loc!r} has no catalog templates/locales/{loc}/LC_MESSAGES/encore.po, "
            "where the words around a campaign's numbers ('about 28,800') come from "
            f"(shipped: {', '.join(supported_locales())}; docs/render.md, Languages)"
        )


def check_market(mk: str, where: str) -> None:
    if not isinstance(mk, str) or not _MARKET.fullmatch(mk):
        raise EncoreError(f"{where}: market {mk!r} must be an ISO country code like US")


def _load_copy(path: Path) -> list[Line]:
    try:
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise EncoreError(f"{path}: not valid TOML: {err}") from None
    lines, seen = [], set()
    for i, ln in enumerate(body.get("line", [])):
        where = f"{path}: line {i + 1}"
        missing = [k for k in ("id", "channel", "facts", "text") if k not in ln]
        if missing:
            raise EncoreError(f"{where}: missing {', '.join(missing)}")
        if not _NAME.fullmatch(str(ln["id"])) or ln["id"] in seen:
            raise EncoreError(f"{where}: id {ln['id']!r} must be a unique lower-case name")
        if ln["channel"] not in CHANNELS:
            raise EncoreError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
        if not isinstance(ln["facts"], list) or not ln["facts"]:
            raise EncoreError(f"{where}: facts must name the fact ids the line uses")
        unknown = set(ln) - {"id", "channel", "facts", "text", "bounds"}
        if unknown:
            raise EncoreError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        bounds = ln.get("bounds", [])
        if not isinstance(bounds, list) or not set(bounds) <= set(ln["facts"]):
            raise EncoreError(
                f"{where}: bounds must list facts of the line's facts (the ones whose "
                "suppressed count it may state as an upper bound)"
            )
        seen.add(ln["id"])
        lines.append(
            Line(ln["id"], ln["channel"], tuple(ln["facts"]), str(ln["text"]), tuple(bounds))
        )
    return lines


def _check_text(value: str, what: str) -> str:
    """One extra phrase, artist or title: single-spaced, 1-100 characters, no control
    characters. ValueError with a one-line reason."""
    if _CONTROL.search(value):
        raise ValueError(f"{what} {value!r} contains a control character")
    text = " ".join(value.split())
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_EXTRA_CHARS:
        raise ValueError(f"{what} {text[:40]!r}... is longer than {MAX_EXTRA_CHARS} characters")
    return text


def check_phrase(value: str) -> str:
    """An extra playlist-title phrase, cleaned (``--phrase``); ValueError when bad."""
    return _check_text(value, "phrase")


def check_track(value: str) -> tuple[str, str]:
    """An extra track, ``"Artist — Title"`` (an em dash, or `` - ``, between spaces; the
    first one separates), as ``(artist, title)``; ValueError when bad."""
    if _CONTROL.search(value):
        raise ValueError(f"track {value!r} contains a control character")
    for sep in _TRACK_SEPARATORS:
        if sep in value:
            artist, title = value.split(sep, 1)
            return _check_text(artist, "track artist"), _check_text(title, "track title")
    raise ValueError(f"track {value!r} must be written 'Artist — Title'")


def check_extras(phrases: list[str], tracks: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """The extra phrases and tracks of an export, checked and without repeats;
    EncoreError with a one-line reason (too many, empty, too long, control characters)."""
    out_p: list[str] = []
    out_t: list[tuple[str, str]] = []
    for what, values, check, out in (
        ("--phrase", phrases, check_phrase, out_p),
        ("--track", tracks, check_track, out_t),
    ):
        if len(values) > MAX_EXTRAS:
            raise EncoreError(f"{what}: at most {MAX_EXTRAS} per export, got {len(values)}")
        for v in values:
            try:
                item = check(str(v))
            except ValueError as err:
                raise EncoreError(f"{what}: {err}") from None
            if item not in out:
                out.append(item)
    return out_p, out_t
