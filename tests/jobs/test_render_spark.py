"""`encore render` end to end on hand-made recaps: pages only for eligible, non-erased
listeners, in folders named by share token, published atomically, re-render replaces."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import render_samples as S

from encore import cli, render
from encore.platform import config, datasets, schemas, share
from encore.render import settings as render_conf
from encore.tools import generate

YEAR = 2025


def _write_parquet(path, rows, schema):
    os.makedirs(path, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), os.path.join(path, "part-0.parquet"))


@pytest.fixture()
def data_root(tmp_path):
    root = str(tmp_path / "data")
    recaps = [
        S.recap("usr_en"),
        # a Devanagari name: this summary is drawn by the exact renderer (render/raster.py)
        S.recap(
            "usr_de",
            top_artists=[
                {"artist_name": n, "streams": 400 - i, "minutes": 900 - i}
                for i, n in enumerate(["अरिजीत सिंह", "Velvet Lanes", "Neon Harbor", "Lunar Club"])
            ],
        ),
        S.hostile("<script>alert(1)</script>", user_id="usr_hostile"),
        S.one_play("usr_small"),
        S.recap("usr_ineligible_1", eligible=False, personality=None, top_artist_percent=None),
        S.one_play("usr_ineligible_2") | {"eligible": False},
        S.recap("usr_erased"),
    ]
    _write_parquet(datasets.recaps_path(root, YEAR), recaps, schemas.RECAP)
    users = [
        {
            "user_id": u,
            "country": c,
            "birth_year": None,
            "timezone": None,
            "created_at": datetime(2020, 1, 1, tzinfo=UTC),
            "marketing_opt_out": False,
        }
        for u, c in [("usr_en", "US"), ("usr_de", "DE"), ("usr_hostile", "BR"), ("usr_small", None)]
    ]
    _write_parquet(os.path.join(root, "users"), users, schemas.USERS)
    _write_parquet(
        os.path.join(root, "privacy", "erasures"),
        [{"user_id": "usr_erased", "requested_at": datetime(2025, 6, 1, tzinfo=UTC)}],
        schemas.ERASURES,
    )
    generate.mark_generated(root)  # synthetic: --demo may use the demo secret here
    return root


def _site(root):
    return os.path.join(root, "site", str(YEAR))


def _run(root, *extra):
    return cli.main(
        ["render", "--data", root, "--year", str(YEAR), "--spark-profile", "test", *extra]
    )


@pytest.mark.slow
def test_render_writes_a_page_for_every_eligible_listener_only(
    spark, data_root, monkeypatch, capsys
):
    monkeypatch.delenv(config.SECRET_ENV, raising=False)
    secret = config.share_secret(demo=True)
    assert _run(data_root, "--demo") == 0
    out = capsys.readouterr().out
    assert "4 pages" in out and "4 PNGs" in out and "cards" in out

    site = _site(data_root)
    expected = {
        share.share_token(secret, u, YEAR): u
        for u in ("usr_en", "usr_de", "usr_hostile", "usr_small")
    }
    assert set(os.listdir(site)) == set(expected)  # no index, no ineligible, no erased
    for token, user in expected.items():
        files = set(os.listdir(os.path.join(site, token)))
        assert {"index.html", "recap.json", "summary.png", "summary.svg", "minutes.svg"} <= files
        for name in files:
            assert user not in name
            with open(os.path.join(site, token, name), "rb") as f:
                assert user.encode() not in f.read(), (user, name)
    de = json.load(
        open(os.path.join(site, share.share_token(secret, "usr_de", YEAR), "recap.json"))
    )
    assert de["locale"] == "de"
    br = json.load(
        open(os.path.join(site, share.share_token(secret, "usr_hostile", YEAR), "recap.json"))
    )
    assert br["locale"] == "pt_BR"
    small = os.listdir(os.path.join(site, share.share_token(secret, "usr_small", YEAR)))
    assert "personality.svg" not in small and "top-genres.svg" not in small

    reports = [n for n in os.listdir(os.path.join(data_root, "reports")) if n.startswith("render-")]
    body = json.load(open(os.path.join(data_root, "reports", reports[0])))
    assert body["wrote"]["pages"] == 4 and body["wrote"]["pngs"] == 4
    # usr_de's Devanagari artist outlined for the fast renderer; the other three: fast
    assert body["pngs_outlined"] == 1 and body["pngs_exact"] == 0
    assert body["wrote"]["cards"] == sum(
        1 for t in expected for n in os.listdir(os.path.join(site, t)) if n.endswith(".svg")
    )

    # re-rendering replaces the year atomically: stale files disappear, no staging left over
    stale = os.path.join(site, "stale-token")
    os.makedirs(stale)
    assert _run(data_root, "--demo", "--no-png") == 0
    assert set(os.listdir(site)) == set(expected)
    assert not any("summary.png" in os.listdir(os.path.join(site, t)) for t in expected)
    leftovers = [n for n in os.listdir(os.path.join(data_root, "site")) if n.startswith(".")]
    assert leftovers == []


def test_render_without_a_secret_refuses_to_start(data_root, monkeypatch, capsys):
    monkeypatch.delenv(config.SECRET_ENV, raising=False)
    assert _run(data_root) == 2
    err = capsys.readouterr().err
    assert "ENCORE_SHARE_SECRET is not set" in err
    assert not os.path.exists(_site(data_root))


def test_render_without_recaps_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(config.SECRET_ENV, raising=False)
    generate.mark_generated(str(tmp_path))  # a generated root (else --demo is refused first)
    assert _run(str(tmp_path), "--demo") == 2
    assert "encore recaps" in capsys.readouterr().err


@pytest.mark.slow
def test_build_site_counts_come_back_per_partition_and_sum(spark, data_root, tmp_path):
    recaps = spark.read.parquet(datasets.recaps_path(data_root, YEAR)).repartition(3)
    out = str(tmp_path / "staged")
    totals = render.build_site(
        recaps,
        out_dir=out,
        secret=b"s" * 20,
        settings=render_conf.RenderSettings(),
        png=False,
    ).collect()
    assert len(totals) == 1
    row = totals[0]
    # no erased filter here: 5 eligible rows (usr_erased included), no PNGs asked for
    assert row["pages"] == 5 and row["pngs"] == 0
    assert row["cards"] == sum(
        len(render.listener_view(r)["cards"])
        for r in [S.recap(), S.recap(), S.hostile("x"), S.one_play(), S.recap()]
    )
    assert len(os.listdir(out)) == 5
