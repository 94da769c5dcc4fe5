"""The fact catalog (privacy.md, "Fact catalog"): every differentially private fact
is declared in conf/encore.toml under ``[facts.catalog.<id>]`` — its query kind, keys,
contribution bounds and budget weight — so marketing can add a fact of an existing
kind without code. This module owns the ``[facts]`` section: it validates it (an
error names the bad key) and turns each entry into a ``FactSpec``.

Campaign manifests declare their own facts in the same shape (``spec_from_dict``).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

from encore.platform import config
from encore.platform.config import ConfigError

KINDS = ("count", "average", "median")
SOURCES = ("streams", "episodes", "listeners", "playlists", "playlist_tracks")

# Group-by dimensions: the columns they stand for, the sources that carry them, and
# where their keys come from ("public": a public list or the catalog; "named": the
# fact names its values; "private": only through the library's private selection).
DIMENSIONS: dict[str, dict[str, Any]] = {
    "artist": {"columns": ("artist_name",), "sources": ("streams",), "keys": "public"},
    "track": {
        "columns": ("artist_name", "track_name"),
        "sources": ("streams", "playlist_tracks"),
        "keys": "public",
    },
    "album": {"columns": ("artist_name", "album_name"), "sources": ("streams",), "keys": "public"},
    "genre": {"columns": ("genre",), "sources": ("streams",), "keys": "public"},
    "country": {
        "columns": ("country",),
        "sources": ("streams", "episodes", "listeners"),
        "keys": "public",
    },
    "age_band": {
        "columns": ("age_band",),
        "sources": ("streams", "episodes", "listeners"),
        "keys": "public",
    },
    "platform": {"columns": ("platform",), "sources": ("streams", "episodes"), "keys": "public"},
    "hour": {"columns": ("hour",), "sources": ("streams", "episodes"), "keys": "public"},
    "phrase": {"columns": ("phrase",), "sources": ("playlists",), "keys": "named"},
    "show": {"columns": ("show_name",), "sources": ("episodes",), "keys": "private"},
    "title": {"columns": ("title",), "sources": ("playlists",), "keys": "private"},
}
# Per-listener metrics of the `listeners` source (jobs/encore/facts/population.py builds them).
METRICS = ("minutes", "work_hours_share")

_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_COUNTRY = re.compile(r"[A-Z]{2}")

# Fields that define the query (and so the release): a fact whose query fields equal
# an already released one's is that release. Weight, title and display are not part of it.
QUERY_FIELDS = (
    "kind",
    "source",
    "keys",
    "private_keys",
    "date",
    "phrases",
    "tracks",
    "markets",
    "unit",
    "max_groups",
    "max_rows_per_group",
    "metric",
    "low",
    "high",
)


def _digest(fields: dict) -> str:
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=list)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class FactSpec:
    """One fact: what to compute (query fields), how much budget, how to show it."""

    id: str
    kind: str
    source: str
    keys: tuple[str, ...]
    weight: float
    title: str = ""
    private_keys: bool = False
    date: str | None = None  # MM-DD, the listener's local date within the year
    phrases: tuple[str, ...] = ()
    tracks: tuple[tuple[str, str], ...] = ()  # (track_name, artist_name)
    markets: tuple[str, ...] = ()  # restricts the country keys
    unit: str = "plays"  # "plays" or "listeners" (each listener counts once per key)
    max_groups: int = 1
    max_rows_per_group: int = 1
    metric: str | None = None
    low: float | None = None
    high: float | None = None
    # display only: the top `top` keys, overall or within each value of `per`; shares within `share_per`
    top: int | None = None
    per: tuple[str, ...] = ()
    share_per: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def query(self) -> dict:
        d = asdict(self)
        return {k: d[k] for k in QUERY_FIELDS}

    @property
    def released_as(self) -> dict:
        """What the release computes from the display options, so part of its identity:
        a ranked count (``top`` or ``per``) is held to the largest of its draws. Empty
        for a plain fact (whose signature is then the query's alone, as before
        2026-12-08); ``top``'s number is display only."""
        out: dict = {}
        if (self.top or self.per) and self.kind == "count":  # the bar is a count's only
            out["ranked"] = True
        # not ``share_per``: shares are post-processing of the released values, so they
        # are worked out again when a release is read (store.as_released)
        return out

    def identity(self) -> dict:
        """The release's identity: the query fields and ``released_as`` (stored as params)."""
        return self.query() | {"released_as": self.released_as}

    @property
    def signature(self) -> str:
        """A stable hash of the query and what the release computes: its identity."""
        if not self.released_as:
            return self.legacy_signature
        return _digest(self.query() | {"released_as": self.released_as})

    @property
    def legacy_signature(self) -> str:
        """The query's hash alone: every release's identity before 2026-12-08 (display
        options were left out, though the ranked bar and shares are computed at release)."""
        return _digest(self.query())

    @property
    def counts_as(self) -> str:
        """The signature with each phrase as titles are matched (NFC, case-folded,
        single spaces): two facts with one ``counts_as`` count the same playlists."""
        query = self.query() | {"phrases": [normalise_phrase(p) for p in self.phrases]}
        # not ``released_as``: a plain extra matched to a ranked fact reads a release held
        # to the stricter bar, which shows no more than its own would
        return _digest(query)

    @property
    def key_columns(self) -> list[str]:
        return [c for k in self.keys for c in DIMENSIONS[k]["columns"]]

    @property
    def needs_delta(self) -> bool:
        return self.private_keys


_ALLOWED = {
    "title": str,
    "kind": str,
    "source": str,
    "keys": list,
    "weight": (int, float),
    "private_keys": bool,
    "date": str,
    "phrases": list,
    "tracks": list,
    "markets": list,
    "unit": str,
    "max_groups": int,
    "max_rows_per_group": int,
    "metric": str,
    "low": (int, float),
    "high": (int, float),
    "top": int,
    "per": (list, str),
    "share_per": str,
}


def spec_from_dict(fact_id: str, body: dict, *, where: str | None = None) -> FactSpec:
    """Validate one fact declaration; ConfigError names the bad key (``<where>.<key>``)."""
    where = where or fact_id
    _check_shape(where, fact_id, body)
    kind, source, keys = body["kind"], body["source"], body["keys"]
    weight, private_keys = _check_what(where, body, kind, source, keys)
    date, phrases, tracks, markets = _check_filters(where, body, source, keys)
    unit, max_groups, max_rows, metric, low, high, top, per, share_per = _check_measure(
        where, body, kind, source, keys
    )
    return FactSpec(
        id=fact_id,
        kind=kind,
        source=source,
        keys=tuple(keys),
        weight=weight,
        title=body.get("title", fact_id.replace("_", " ")),
        private_keys=private_keys,
        date=date,
        phrases=tuple(phrases),
        tracks=tuple(tuple(t) for t in tracks),
        markets=tuple(sorted(markets)),
        unit=unit,
        max_groups=max_groups,
        max_rows_per_group=max_rows,
        metric=metric,
        low=None if low is None else float(low),
        high=None if high is None else float(high),
        top=top,
        per=tuple(per),
        share_per=share_per,
    )


def _check_shape(where: str, fact_id: str, body: dict) -> None:
    """The id, the known keys and their types, the required keys."""
    if not isinstance(fact_id, str) or not _ID.fullmatch(fact_id):
        raise ConfigError(
            f"{where}: fact id must be lower-case letters, digits and _, got {fact_id!r}"
        )
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: must be a table")
    for k, v in body.items():
        if k not in _ALLOWED:
            raise ConfigError(f"{where}.{k}: unknown key (known: {', '.join(_ALLOWED)})")
        if not isinstance(v, _ALLOWED[k]) or (isinstance(v, bool) and _ALLOWED[k] is not bool):
            raise ConfigError(f"{where}.{k}: wrong type {type(v).__name__}")
    for k in ("kind", "source", "keys", "weight"):
        if k not in body:
            raise ConfigError(f"{where}.{k}: missing")


def _check_what(where: str, body: dict, kind: str, source: str, keys: list) -> tuple:
    """What is counted over which dimensions: (weight, private_keys)."""
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if source not in SOURCES:
        raise ConfigError(f"{where}.source: must be one of {', '.join(SOURCES)}, got {source!r}")
    if not keys or any(k not in DIMENSIONS for k in keys) or len(set(keys)) != len(keys):
        raise ConfigError(
            f"{where}.keys: must be distinct dimensions from {', '.join(DIMENSIONS)}, got {keys!r}"
        )
    for k in keys:
        if source not in DIMENSIONS[k]["sources"]:
            raise ConfigError(f"{where}.keys: {k!r} is not available on source {source!r}")
    weight = float(body["weight"])
    if not weight > 0:
        raise ConfigError(f"{where}.weight: must be > 0, got {weight}")
    private_keys = body.get("private_keys", False)
    private_dims = [k for k in keys if DIMENSIONS[k]["keys"] == "private"]
    if private_dims and not private_keys:
        raise ConfigError(
            f"{where}.private_keys: {private_dims[0]!r} is open-ended text: its keys "
            "can only come from private selection (set private_keys = true)"
        )
    if private_keys and (not private_dims or len(keys) != 1):
        raise ConfigError(
            f"{where}.private_keys: only for a single open-ended dimension (show, title)"
        )
    if private_keys and kind != "count":
        raise ConfigError(f"{where}.private_keys: only count facts select keys privately")
    return weight, private_keys


def _check_filters(where: str, body: dict, source: str, keys: list) -> tuple:
    """Which plays count: (date, phrases, tracks, markets)."""
    date = body.get("date")
    if date is not None:
        if not _MONTH_DAY.fullmatch(date):
            raise ConfigError(f"{where}.date: must be MM-DD, got {date!r}")
        if source not in ("streams", "episodes"):
            raise ConfigError(f"{where}.date: only streams and episodes have a date")
    phrases = body.get("phrases", [])
    if "phrase" in keys:
        if not phrases or not all(
            isinstance(p, str) and p.strip() and len(p) <= 200 for p in phrases
        ):
            raise ConfigError(f"{where}.phrases: a phrase fact needs a list of non-empty phrases")
    elif phrases:
        raise ConfigError(f'{where}.phrases: only with keys = ["phrase"]')
    tracks = body.get("tracks", [])
    if tracks:
        if "track" not in keys:
            raise ConfigError(f"{where}.tracks: only with the track dimension")
        if not all(
            isinstance(t, list) and len(t) == 2 and all(isinstance(x, str) and x for x in t)
            for t in tracks
        ):
            raise ConfigError(f"{where}.tracks: each entry must be [track_name, artist_name]")
    if source == "playlist_tracks" and not tracks:
        raise ConfigError(f"{where}.tracks: a playlist_tracks fact names its tracks")
    markets = body.get("markets", [])
    if markets:
        if "country" not in keys:
            raise ConfigError(f"{where}.markets: only with the country dimension")
        bad = [m for m in markets if not isinstance(m, str) or not _COUNTRY.fullmatch(m)]
        if bad:
            raise ConfigError(f"{where}.markets: not ISO country codes: {bad!r}")
    return date, phrases, tracks, markets


def _check_measure(where: str, body: dict, kind: str, source: str, keys: list) -> tuple:
    """The unit, the contribution bounds and the shape of the answer."""
    unit = body.get("unit", "plays")
    if unit not in ("plays", "listeners"):
        raise ConfigError(f"{where}.unit: must be plays or listeners, got {unit!r}")
    max_groups = body.get("max_groups", 1)
    max_rows = body.get("max_rows_per_group", 1)
    for name, v in (("max_groups", max_groups), ("max_rows_per_group", max_rows)):
        if not 1 <= v <= 10_000:
            raise ConfigError(f"{where}.{name}: must be between 1 and 10000, got {v}")
    if unit == "listeners" and max_rows != 1:
        raise ConfigError(f'{where}.max_rows_per_group: must be 1 when unit = "listeners"')
    metric, low, high = body.get("metric"), body.get("low"), body.get("high")
    if kind in ("average", "median"):
        if source != "listeners":
            raise ConfigError(
                f'{where}.source: {kind} facts are over listeners (source = "listeners")'
            )
        if metric not in METRICS:
            raise ConfigError(
                f"{where}.metric: must be one of {', '.join(METRICS)}, got {metric!r}"
            )
        if low is None or high is None or not float(low) < float(high):
            raise ConfigError(f"{where}.high: {kind} needs bounds low < high")
    else:
        if source == "listeners":
            raise ConfigError(
                f'{where}.source: count facts over listeners: use unit = "listeners" on streams'
            )
        for name in ("metric", "low", "high"):
            if body.get(name) is not None:
                raise ConfigError(f"{where}.{name}: only for average and median facts")
    top = body.get("top")
    if top is not None and not 1 <= top <= 1000:
        raise ConfigError(f"{where}.top: must be between 1 and 1000, got {top}")
    per = body.get("per", [])
    per = [per] if isinstance(per, str) else per
    if any(p not in keys for p in per):
        raise ConfigError(f"{where}.per: must name dimensions of keys, got {per!r}")
    share_per = body.get("share_per")
    if share_per is not None and (share_per not in keys or kind != "count"):
        raise ConfigError(f"{where}.share_per: must be a dimension of a count fact's keys")
    return unit, max_groups, max_rows, metric, low, high, top, per, share_per


_SETTINGS = {
    "reserve_weight": (int, float),
    "extra_weight": (int, float),
    "selection_share": float,
    "count_share": float,
    "age_bands": list,
    "work_hours": list,
    "platforms": list,
    "countries": list,
    "catalog": dict,
}


def validate(body: dict) -> None:
    """The [facts] section's validator (registered with encore.config)."""
    for k, v in body.items():
        if k not in _SETTINGS:
            raise ConfigError(f"{k}: unknown key (known: {', '.join(_SETTINGS)})")
        if not isinstance(v, _SETTINGS[k]) or isinstance(v, bool):
            raise ConfigError(f"{k}: wrong type {type(v).__name__}")
    for k in _SETTINGS:
        if k not in body:
            raise ConfigError(f"{k}: missing")
    _check_shares(body)
    bands = body["age_bands"]
    if (
        not bands
        or not all(isinstance(b, int) and not isinstance(b, bool) for b in bands)
        or bands != sorted(set(bands))
        or bands[0] < 0
    ):
        raise ConfigError("age_bands: must be ascending ages (the lower bound of each band)")
    wh = body["work_hours"]
    if len(wh) != 2 or not all(isinstance(h, int) for h in wh) or not 0 <= wh[0] < wh[1] <= 24:
        raise ConfigError("work_hours: must be [start, end] hours with 0 <= start < end <= 24")
    if not body["platforms"] or not all(isinstance(p, str) and p for p in body["platforms"]):
        raise ConfigError("platforms: must be a non-empty list of platform names")
    bad = [c for c in body["countries"] if not isinstance(c, str) or not _COUNTRY.fullmatch(c)]
    if bad:
        raise ConfigError(f"countries: not ISO country codes: {bad!r}")
    if not body["catalog"]:
        raise ConfigError("catalog: declare at least one fact")
    for fact_id, fact in body["catalog"].items():
        spec_from_dict(fact_id, fact, where=f"catalog.{fact_id}")


def _check_shares(body: dict) -> None:
    """The reserve, the extras' weight and the budget shares."""
    if body["reserve_weight"] < 0:
        raise ConfigError(f"reserve_weight: must be >= 0, got {body['reserve_weight']}")
    if not body["extra_weight"] > 0:
        raise ConfigError(f"extra_weight: must be > 0, got {body['extra_weight']}")
    for k in ("selection_share", "count_share"):
        if not 0 < body[k] < 1:
            raise ConfigError(f"{k}: must be between 0 and 1 (exclusive), got {body[k]}")


config.register_section("facts", validator=validate)


def catalog(cfg: dict) -> list[FactSpec]:
    """The configured fact catalog, in declaration order."""
    return [spec_from_dict(i, b, where=f"catalog.{i}") for i, b in cfg["facts"]["catalog"].items()]


def total_weight(cfg: dict) -> float:
    """The denominator of the budget split: the catalog's weights plus the reserve
    kept for facts asked later (campaign phrases, dates)."""
    f = cfg["facts"]
    return sum(float(b["weight"]) for b in f["catalog"].values()) + float(f["reserve_weight"])


def budget_for(spec: FactSpec, cfg: dict) -> tuple[float, float]:
    """(epsilon, delta) a fact spends: the year's total times its weight's share.
    Only private key selection spends delta."""
    share = spec.weight / total_weight(cfg)
    eps = cfg["privacy"]["epsilon_per_year"] * share
    delta = cfg["privacy"]["delta_per_year"] * share if spec.needs_delta else 0.0
    return eps, delta


def countries(cfg: dict) -> list[str]:
    """Public country keys: the configured list, or every ISO 3166-1 alpha-2 region Babel knows."""
    listed = cfg["facts"]["countries"]
    if listed:
        return sorted(set(listed))
    from babel import Locale

    skip = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "XK"}
    return sorted(
        k for k in Locale("en").territories if len(k) == 2 and k.isalpha() and k not in skip
    )


def age_band_labels(cfg: dict) -> list[str]:
    bands = cfg["facts"]["age_bands"]
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(bands, bands[1:], strict=False)]
    return labels + [f"{bands[-1]}+"]


# A phrase or track asked for by a campaign export (the encore_campaign form), beyond
# the campaign's own facts: released once from what is left of the year's budget.
EXTRA_ROWS_PER_GROUP = 3  # a listener's playlists counted per key, as the catalog's playlist facts


def normalise_phrase(text: str) -> str:
    """A phrase (or a playlist title) as they are compared: NFC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def extra_fact(what: str, value: str | tuple[str, str], cfg: dict) -> FactSpec:
    """The named-key fact for one extra phrase (``what="phrase"``, the phrase) or track
    (``what="track"``, ``(artist, title)``), weighing ``[facts] extra_weight``.

    Its id is derived from what it counts (a phrase case-folded with single spaces, as
    titles are matched; a track exactly), so asking again for the same phrase or track
    is the same release (immutability: never a fresh draw of the same count)."""
    if what == "phrase":
        phrase = normalise_phrase(str(value))
        body = {
            "title": f"Playlists whose title contains “{phrase}”",
            "source": "playlists",
            "keys": ["phrase"],
            "phrases": [phrase],
        }
        ident = phrase
    elif what == "track":
        artist, title = value
        body = {
            "title": f"Playlists that contain “{title}” by {artist}",
            "source": "playlist_tracks",
            "keys": ["track"],
            "tracks": [[title, artist]],
        }
        ident = json.dumps([artist, title], ensure_ascii=False)
    else:
        raise ValueError(f"extra_fact: what must be phrase or track, got {what!r}")
    body |= {
        "kind": "count",
        "max_rows_per_group": EXTRA_ROWS_PER_GROUP,
        "weight": cfg["facts"]["extra_weight"],
    }
    digest = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:12]
    return spec_from_dict(f"extra_{what}_{digest}", body, where=f"extra {what} {value!r}")
