"""Artist and track names in other scripts for the generated catalogue (tools/world.py).

Issue 20: a benchmark of Latin names only hid that a listener with Japanese names cost
20x more to render. About a quarter of the artists, at every popularity, belong to a
scene — K-pop (Hangul), J-pop (kanji and kana), Bollywood (Devanagari), Arabic — and are
named from these parts, as are their tracks (and so their albums). The names come from
their own random stream, so the rest of the generated data does not change.
"""

from __future__ import annotations

import numpy as np

# the parts names are made of, per scene
_HANGUL_ARTIST = [
    "별빛",
    "소년",
    "단",
    "아이",
    "유",
    "뉴",
    "진스",
    "블랙",
    "핑크",
    "세븐",
    "틴",
    "에스",
    "파",
    "하늘",
    "달",
    "민지",
]
_HANGUL_TRACK = [
    "봄날",
    "사랑",
    "밤",
    "너의",
    "하루",
    "노래",
    "별",
    "꿈",
    "기억",
    "여름",
    "좋은 날",
    "하입 보이",
]
_JA_ARTIST = [
    "米津",
    "玄師",
    "宇多田",
    "ヒカル",
    "あいみょん",
    "藤井",
    "風",
    "優里",
    "ヨルシカ",
    "夜",
    "星野",
    "源",
    "緑黄色",
    "社会",
]
_JA_TRACK = [
    "夜に駆ける",
    "初恋",
    "レモン",
    "花火",
    "桜",
    "さよなら",
    "君の",
    "青い",
    "春",
    "ドライフラワー",
    "マリーゴールド",
    "死ぬのがいいわ",
]
_HI_FIRST = [
    "अरिजीत",
    "श्रेया",
    "सुनिधि",
    "विशाल",
    "प्रीतम",
    "नेहा",
    "जुबिन",
    "आशा",
    "लता",
    "किशोर",
    "दिलजीत",
]
_HI_LAST = ["सिंह", "घोषाल", "चौहान", "शेखर", "कक्कड़", "नौटियाल", "भोसले", "मंगेशकर", "कुमार", "दोसांझ"]
_HI_TRACK = [
    "तुम ही हो",
    "दिल",
    "प्यार",
    "केसरिया",
    "रात",
    "सपना",
    "जुदा",
    "मेरा",
    "छैया छैया",
    "लग जा गले",
    "कल हो ना हो",
]
_AR_ARTIST = ["عمرو", "دياب", "فيروز", "نانسي", "عجرم", "محمد", "منير", "إليسا", "تامر", "حسني"]
_AR_TRACK = ["حبيبي", "ليل", "قلب", "يا", "نور", "سهر", "أمل", "بحر", "تملي معاك", "زي الهوا"]
WORLD_SCENES = {4: "ko", 6: "ja", 9: "hi", 11: "ar"}


def scene_of_artist(a: int) -> str | None:
    """The scene of artist number ``a`` (WORLD_SCENES[a % 12]; Arabic only every other
    time: about 27 % of the catalogue in all), or None for a Latin name."""
    scene = WORLD_SCENES.get(a % 12)
    if scene == "ar" and a % 24 != 11:
        return None
    return scene


def scene_name(rng: np.random.Generator, scene: str, what: str) -> str:
    """An artist's (``what="artist"``) or a track's name of ``scene``."""
    pick = lambda parts, k: [str(x) for x in rng.choice(parts, size=k, replace=False)]  # noqa: E731
    if scene == "ko":
        return (
            "".join(pick(_HANGUL_ARTIST, int(rng.integers(2, 4))))
            if what == "artist"
            else " ".join(pick(_HANGUL_TRACK, int(rng.integers(1, 3))))
        )
    if scene == "ja":
        return (
            "".join(pick(_JA_ARTIST, int(rng.integers(1, 3))))
            if what == "artist"
            else "".join(pick(_JA_TRACK, int(rng.integers(1, 3))))
        )
    if scene == "hi":
        return (
            f"{rng.choice(_HI_FIRST)} {rng.choice(_HI_LAST)}"
            if what == "artist"
            else " ".join(pick(_HI_TRACK, int(rng.integers(1, 3))))
        )
    return (
        " ".join(pick(_AR_ARTIST, 2))
        if what == "artist"
        else " ".join(pick(_AR_TRACK, int(rng.integers(1, 3))))
    )
