"""encore publish: the delivery list (who, which URL, which email, which language),
the manifest and the run report, on hand-made recaps."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from encore.platform import schemas, share
from encore.platform.context import RunContext
from encore.publish import job as publish
from encore.tools import generate

SECRET = b"encore-demo-secret-not-for-production"  # what share_secret(demo=True) returns
YEAR = 2025


def recap(user_id: str, *, eligible: bool, minutes: int, artist: str | None) -> dict:
    row = {f.name: None for f in schemas.RECAP}
    row.update(
        user_id=user_id,
        year=YEAR,
        eligible=eligible,
        listening_minutes=minutes,
        top_artists=[{"artist_name": artist, "streams": 40, "minutes": 90}] if artist else [],
    )
    return row


@pytest.fixture()
def data_root(tmp_path):
    root = tmp_path / "data"
    recaps = [
        recap("u-de", eligible=True, minutes=1234, artist="Die <Ärzte> & Co"),
        recap("u-br", eligible=True, minutes=1, artist=None),
        recap("u-none", eligible=True, minutes=50, artist="Zed"),  # no users row: default locale
        recap("u-few", eligible=False, minutes=3, artist="Zed"),  # ineligible: no page, no email
        recap("u-gone", eligible=True, minutes=700, artist="Zed"),  # erased: nothing
    ]
    path = root / "recaps" / f"year={YEAR}"
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(recaps, schema=schemas.RECAP), path / "part-0.parquet")
    users = [
        {
            "user_id": "u-de",
            "country": "DE",
            "birth_year": 1990,
            "timezone": "Europe/Berlin",
            "created_at": None,
            "marketing_opt_out": False,
        },
        {
            "user_id": "u-br",
            "country": "BR",
            "birth_year": None,
            "timezone": None,
            "created_at": None,
            "marketing_opt_out": True,
        },  # opted out of marketing, still gets their recap
        {
            "user_id": "u-gone",
            "country": "DE",
            "birth_year": None,
            "timezone": None,
            "created_at": None,
            "marketing_opt_out": False,
        },
    ]
    (root / "users").mkdir()
    pq.write_table(
        pa.Table.from_pylist(users, schema=schemas.USERS), root / "users" / "part-0.parquet"
    )
    (root / "privacy" / "erasures").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(
            [{"user_id": "u-gone", "requested_at": None}], schema=schemas.ERASURES
        ),
        root / "privacy" / "erasures" / "part-0.parquet",
    )
    (root / "site" / str(YEAR)).mkdir(parents=True)  # render ran
    generate.mark_generated(str(root))  # synthetic: demo=True may use the demo secret here
    return str(root)


def run_publish(cfg, root: str) -> int:
    ctx = RunContext(data=root, cfg=cfg, year=YEAR, run_id="run-1", spark_profile="test")
    return publish.run(ctx, demo=True)


def test_delivery_list(spark, cfg, data_root):
    assert run_publish(cfg, data_root) == 0
    rows = {
        r["user_id"]: r for r in pq.read_table(publish.deliveries_path(data_root, YEAR)).to_pylist()
    }
    assert sorted(rows) == ["u-br", "u-de", "u-none"]  # not the ineligible, not the erased

    site = "file://" + os.path.abspath(os.path.join(data_root, "site"))
    de, br, none = rows["u-de"], rows["u-br"], rows["u-none"]
    token = share.share_token(SECRET, "u-de", YEAR)
    assert de["page_url"] == f"{site}/{YEAR}/{token}/index.html"
    assert (de["locale"], br["locale"], none["locale"]) == ("de", "pt_BR", "en")
    assert de["subject"] == "Dein Musikjahr 2025 ist da"
    assert "1.234 Minuten" in de["body_text"]  # German number format
    assert "Die <Ärzte> & Co" in de["body_text"]
    assert "Die &lt;Ärzte&gt; &amp; Co" in de["body_html"] and "<Ärzte>" not in de["body_html"]
    assert f'href="{de["page_url"]}"' in de["body_html"]
    assert "1 minuto ouvindo" in br["body_text"]  # singular, in Portuguese
    assert "artista" not in br["body_text"]  # no top artist: the line drops out
    assert none["subject"] == "Your 2025 in music is here"
    for r in rows.values():
        assert r["user_id"] not in r["body_text"] + r["body_html"] + r["page_url"]


def test_base_url_and_manifest(spark, cfg, data_root):
    cfg = {**cfg, "render": {**cfg.get("render", {}), "base_url": "https://recap.example.com/"}}
    reports = os.path.join(data_root, "reports")
    os.makedirs(reports)
    with open(os.path.join(reports, "render-run-1.json"), "w") as f:
        json.dump(
            {
                "stage": "render",
                "run_id": "run-1",
                "year": YEAR,
                "wrote": {"pages": 3},
                "wall_s": 1.0,
            },
            f,
        )
    assert run_publish(cfg, data_root) == 0
    rows = pq.read_table(publish.deliveries_path(data_root, YEAR)).to_pylist()
    token = share.share_token(SECRET, "u-none", YEAR)
    assert {r["page_url"] for r in rows} >= {f"https://recap.example.com/{YEAR}/{token}/"}

    manifest = json.load(open(publish.manifest_path(data_root, YEAR)))
    assert manifest["deliveries"]["listeners"] == 3
    assert manifest["deliveries"]["by_locale"] == {"de": 1, "en": 1, "pt_BR": 1}
    assert manifest["reports"] == {"render": os.path.join(reports, "render-run-1.json")}
    text = json.dumps(manifest)
    assert token not in text and "u-de" not in text  # no listing of tokens, no user ids
    run_report = json.load(open(manifest["run_report"]))
    assert run_report["stages"]["render"]["wrote"] == {"pages": 3}
    assert run_report["publish"]["deliveries"] == 3
    # the delivery list is internal: nothing of it under the public site
    assert not any(
        "deliver" in name
        for _, dirs, files in os.walk(os.path.join(data_root, "site"))
        for name in dirs + files
    )


def test_refuses_without_pages(spark, cfg, data_root):
    from encore.platform.errors import EncoreError

    os.rmdir(os.path.join(data_root, "site", str(YEAR)))
    with pytest.raises(EncoreError, match="encore render"):
        run_publish(cfg, data_root)


def test_refuses_without_secret(cfg, data_root, monkeypatch):
    from encore.platform.config import ConfigError

    monkeypatch.delenv("ENCORE_SHARE_SECRET", raising=False)
    ctx = RunContext(data=data_root, cfg=cfg, year=YEAR, run_id="r", spark_profile="test")
    with pytest.raises(ConfigError, match="ENCORE_SHARE_SECRET"):
        publish.run(ctx, demo=False)


def test_every_email_catalog_is_complete():
    from babel.messages.pofile import read_po

    pot = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in read_po(open(publish.email_dir() / "email.pot", "rb"))
        if m.id
    }
    assert len(pot) == 7
    for locale in publish.email_locales()[1:]:
        po = read_po(
            open(publish.email_dir() / "locales" / locale / "LC_MESSAGES" / "email.po", "rb")
        )
        done = {
            m.id if isinstance(m.id, str) else m.id[0]
            for m in po
            if m.id and all(m.string if isinstance(m.string, tuple) else [m.string])
        }
        assert done == pot, locale
