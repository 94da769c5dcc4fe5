"""Whole-listener render cost by the script of the listener's names (docs/render.md).

One process, CPU time per listener: 8 cards with card fonts, the page, recap.json and
the summary PNG. Every listener gets different names (real artists of the scene,
rotated, with a listener number in each track name), so no font subset repeats between
listeners the way one listener's repeat within a process: what a real catalogue costs.

    .venv/bin/python scripts/render-cost.py [--listeners 12]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "jobs"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "jobs"))

import render_samples as S  # noqa: E402

from encore.render import RenderSettings  # noqa: E402
from encore.render.page import Renderer  # noqa: E402

SCENES = {
    "Latin": (
        "US",
        [
            "Taylor Swift",
            "Bad Bunny",
            "The Weeknd",
            "Billie Eilish",
            "Drake",
            "Dua Lipa",
            "Karol G",
        ],
        ["Cruel Summer", "Tití Me Preguntó", "Blinding Lights", "Birds of a Feather", "Levitating"],
    ),
    "K-pop": (
        "KR",
        ["방탄소년단", "블랙핑크", "뉴진스", "아이유", "세븐틴", "르세라핌", "에스파"],
        ["봄날", "뚜두뚜두", "하입 보이", "좋은 날", "아주 NICE", "피어리스", "넥스트 레벨"],
    ),
    "J-pop": (
        "JP",
        ["米津玄師", "YOASOBI", "宇多田ヒカル", "あいみょん", "藤井風", "優里", "Official髭男dism"],
        [
            "レモン",
            "夜に駆ける",
            "初恋",
            "マリーゴールド",
            "死ぬのがいいわ",
            "ドライフラワー",
            "ミックスナッツ",
        ],
    ),
    "Bollywood": (
        "IN",
        [
            "अरिजीत सिंह",
            "श्रेया घोषाल",
            "ए. आर. रहमान",
            "नेहा कक्कड़",
            "विशाल-शेखर",
            "प्रीतम",
            "जुबिन नौटियाल",
        ],
        ["केसरिया", "तुम ही हो", "छैया छैया", "लग जा गले", "कल हो ना हो", "राता लम्बियाँ", "अपना बना ले"],
    ),
}


def listener(scene: str, i: int) -> dict:
    _, artists, tracks = SCENES[scene]
    a = [artists[(i + k) % len(artists)] for k in range(5)]
    t = [f"{tracks[(i + k) % len(tracks)]} {i}" for k in range(5)]
    return S.recap(
        f"usr_{scene}_{i}",
        top_artists=[
            {"artist_name": n, "streams": 400 - k, "minutes": 900 - k} for k, n in enumerate(a)
        ],
        top_tracks=[
            {"track_name": n, "artist_name": a[k], "streams": 90 - k, "minutes": 300}
            for k, n in enumerate(t)
        ],
        monthly_top_artist=(a * 3)[:12],
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listeners", type=int, default=12, help="listeners per scene (default 12)")
    args = p.parse_args()
    if args.listeners < 1:
        p.error(f"--listeners must be at least 1, got {args.listeners}")
    r = Renderer(secret=b"x" * 32, settings=RenderSettings())
    r.render(listener("Latin", 999), country="US")  # templates, fonts, the ASCII subset
    print("| names | CPU per listener | of which the PNG | PNGs outlined | PNGs exact |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for scene, (country, _, _) in SCENES.items():
        png0, exact0, outlined0 = r.png_s, r.png_exact, r.png_outlined
        started = time.process_time()
        for i in range(args.listeners):
            r.render(listener(scene, i), country=country)
        cpu = (time.process_time() - started) / args.listeners
        png = (r.png_s - png0) / args.listeners
        print(
            f"| {scene} | {cpu * 1000:.0f} ms | {png * 1000:.0f} ms "
            f"| {r.png_outlined - outlined0} of {args.listeners} "
            f"| {r.png_exact - exact0} of {args.listeners} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
