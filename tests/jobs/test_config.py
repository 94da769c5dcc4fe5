"""Config validation: every kind of bad config stops with an error naming the key."""

from __future__ import annotations

import copy
import tomllib

import pytest

from encore.platform import config
from encore.platform.config import ConfigError


@pytest.fixture()
def raw():
    return tomllib.loads(config.DEFAULT_CONFIG.read_text())


def test_shipped_config_is_valid(raw):
    cfg = config.validate(raw)
    assert cfg["recaps"]["stream_min_ms"] == 30000
    assert cfg["recaps"]["window_end"] == "11-16"
    assert cfg["privacy"]["epsilon_per_year"] == 3.0
    assert cfg["privacy"]["min_count"] == 50


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("recaps", "stream_min_ms", -1, "recaps.stream_min_ms: must be >= 0"),
        ("recaps", "stream_min_ms", "30000", "recaps.stream_min_ms: must be int"),
        ("recaps", "eligible_min_streams", True, "recaps.eligible_min_streams: must be int"),
        ("recaps", "window_end", "11/16", "recaps.window_end: must be MM-DD"),
        ("recaps", "window_end", "02-30", "recaps.window_end: is not a calendar date"),
        ("recaps", "percentile_buckets", [5, 1], "recaps.percentile_buckets: must be ascending"),
        ("recaps", "loyal_share", 1.5, "recaps.loyal_share: must be between 0 and 1"),
        ("privacy", "epsilon_per_year", 0, "privacy.epsilon_per_year: must be > 0"),
        ("privacy", "delta_per_year", 0.5, "privacy.delta_per_year: must be between"),
        ("ingest", "max_ms_played", "lots", "ingest.max_ms_played: must be int"),
    ],
)
def test_bad_values_name_the_key(raw, section, key, value, message):
    bad = copy.deepcopy(raw)
    bad[section][key] = value
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config.validate(bad)


def test_unknown_key_is_refused(raw):
    bad = copy.deepcopy(raw)
    bad["recaps"]["stream_min_msec"] = 30000
    with pytest.raises(ConfigError, match=r"recaps.stream_min_msec: unknown key"):
        config.validate(bad)


def test_unknown_section_is_refused(raw):
    bad = copy.deepcopy(raw)
    bad["recapz"] = {}
    with pytest.raises(ConfigError, match=r"unknown section \[recapz\]"):
        config.validate(bad)


def test_missing_key_is_named(raw):
    bad = copy.deepcopy(raw)
    del bad["privacy"]["min_count"]
    with pytest.raises(ConfigError, match=r"privacy.min_count: missing"):
        config.validate(bad)


def test_window_must_be_ordered(raw):
    bad = copy.deepcopy(raw)
    bad["recaps"]["window_start"] = "12-01"
    with pytest.raises(ConfigError, match=r"window_end: must be after window_start"):
        config.validate(bad)


def test_unknown_spark_profile(raw):
    bad = copy.deepcopy(raw)
    bad["spark"]["profile"] = "yarn"
    with pytest.raises(ConfigError, match=r"spark.profile: 'yarn' is not one of the profiles"):
        config.validate(bad)


def test_bad_spark_profile_key(raw):
    bad = copy.deepcopy(raw)
    bad["spark"]["profiles"]["local"]["executors"] = 3
    with pytest.raises(ConfigError, match=r"profile 'local': unknown key 'executors'"):
        config.validate(bad)


@pytest.mark.parametrize("value", [0, -5])
def test_plays_per_task_must_be_positive(raw, value):
    bad = copy.deepcopy(raw)
    bad["spark"]["profiles"]["local"]["plays_per_task"] = value
    with pytest.raises(ConfigError, match=r"profile 'local': plays_per_task must be >= 1"):
        config.validate(bad)


def test_bad_toml_names_the_file(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text("[recaps\nstream_min_ms = ")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML"):
        config.load(f)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found"):
        config.load(tmp_path / "nope.toml")


def test_secret_only_from_environment(monkeypatch):
    monkeypatch.delenv(config.SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match="ENCORE_SHARE_SECRET is not set"):
        config.share_secret(demo=False)
    assert config.share_secret(demo=True)  # demo runs use a labelled demo secret
    monkeypatch.setenv(config.SECRET_ENV, "short")
    with pytest.raises(ConfigError, match="too short"):
        config.share_secret(demo=False)
    monkeypatch.setenv(config.SECRET_ENV, "a-long-enough-secret-value")
    assert config.share_secret(demo=False) == b"a-long-enough-secret-value"


def test_window_bounds(cfg):
    assert config.window_bounds(cfg, 2025) == ("2025-01-01 00:00:00", "2025-11-16 00:00:00")


def test_share_token_shape_and_stability():
    import base64
    import hashlib
    import hmac

    from encore.platform.share import share_token

    secret = b"0123456789abcdef-secret"
    token = share_token(secret, "usr_abc", 2025)
    # the message carries its purpose (domain separation, issue 15 item 10)
    expected = (
        base64.b32encode(hmac.new(secret, b"page\0usr_abc:2025", hashlib.sha256).digest())
        .decode()[:26]
        .lower()
    )
    assert token == expected and len(token) == 26 and token.isalnum() and token == token.lower()
    assert share_token(secret, "usr_abc", 2026) != token
    assert share_token(b"another-secret-0123", "usr_abc", 2025) != token
    assert "usr_abc" not in token


def test_tokens_of_different_purposes_never_collide():
    """Issue 15 item 10: export_token(s, "2025") was share_token(s, "export", 2025)."""
    from encore.platform.share import share_token
    from encore.rights import export_token  # = share.export_token

    secret = b"0123456789abcdef-secret"
    assert export_token(secret, "2025") != share_token(secret, "export", 2025)
    assert export_token(secret, "usr_abc:2025") != share_token(secret, "usr_abc", 2025)
    assert export_token(secret, "usr_abc") == export_token(secret, "usr_abc")


def test_spark_profiles_for_real_data_use_small_memory_pages(raw):
    """At 5 M plays the recap stage ran out of execution memory with Spark's derived
    64 MB pages (about 15 column groups' sorts and hash maps in one task, the window's
    plays cached beside them; halving plays_per_task did not help) and finished with
    8 MB pages (docs/benchmark.md). Every profile but the tests' own sets them."""
    for name, prof in raw["spark"]["profiles"].items():
        if name == "test":
            continue
        page = prof.get("conf", {}).get("spark.buffer.pageSize", "")
        assert page.endswith("m") and 1 <= int(page[:-1]) <= 16, (name, page or "unset")
