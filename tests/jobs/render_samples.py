"""Hand-made recap rows (schemas.RECAP) for the render tests: a typical listener, the
extremes the charts must survive, and a corpus of hostile names."""

from __future__ import annotations

from datetime import date

HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    'Tom & Jerry\'s "Greatest" Hits',
    "]]><evil/><![CDATA[",
    "<!-- comment --><svg onload=alert(1)>",
    "&amp; &lt;b&gt; &#x3C;",
    "{{ 7*7 }} {% raw %}",
    "مرحبا بالعالم",  # right-to-left
    "\u202eevil\u202c reversed",  # right-to-left override
    "🎸🔥 Rock 👩‍👩‍👧‍👦",  # emoji, with a zero-width-joiner sequence
    "zero\u200bwidth\u200d\u2060joined\ufeff",
    "ctrl\x00\x01\x08\x0b\x1f chars\ufffe\uffff",
    "Z̸̡̢̛̛̛̗̘̙̜̝̞̟̠a̸l̸g̸o̸",
    "x" * 500,
    "W" * 300 + "</text><script>x</script>",
    "javascript:alert(1)",
    "url(#bg) expression(alert(1))",
]


def recap(user_id: str = "usr_0001", year: int = 2025, **overrides) -> dict:
    """A typical eligible listener's recap row (every RECAP column)."""
    row = {
        "user_id": user_id,
        "year": year,
        "eligible": True,
        "listening_minutes": 12345,
        "music_minutes": 11000,
        "podcast_minutes": 1345,
        "streams": 3210,
        "distinct_tracks": 870,
        "distinct_artists": 120,
        "top_tracks": [
            {
                "track_name": "Golden Hour",
                "artist_name": "Velvet Lanes",
                "streams": 120,
                "minutes": 410,
            },
            {
                "track_name": "Paper Moon",
                "artist_name": "Neon Harbor",
                "streams": 98,
                "minutes": 330,
            },
            {
                "track_name": "Static Bloom",
                "artist_name": "Velvet Lanes",
                "streams": 90,
                "minutes": 300,
            },
            {
                "track_name": "Northern Lights",
                "artist_name": "Crystal Forest",
                "streams": 71,
                "minutes": 250,
            },
            {
                "track_name": "Sugar Rush",
                "artist_name": "Lunar Club",
                "streams": 64,
                "minutes": 200,
            },
        ],
        "top_artists": [
            {"artist_name": "Velvet Lanes", "streams": 420, "minutes": 1500},
            {"artist_name": "Neon Harbor", "streams": 300, "minutes": 1000},
            {"artist_name": "Crystal Forest", "streams": 210, "minutes": 760},
            {"artist_name": "Lunar Club", "streams": 150, "minutes": 500},
            {"artist_name": "Quiet Ocean", "streams": 1, "minutes": 3},
        ],
        "top_albums": [{"album_name": "Dusk", "artist_name": "Velvet Lanes", "streams": 200}],
        "top_genres": [
            {"genre": "indie rock", "streams": 900},
            {"genre": "pop", "streams": 700},
            {"genre": "r&b", "streams": 300},
            {"genre": "jazz", "streams": 120},
            {"genre": "lo-fi", "streams": 1},
        ],
        "top_podcasts": [{"show_name": "Night Talks", "minutes": 900}],
        "top_songs": [{"track_name": "Golden Hour", "artist_name": "Velvet Lanes"}],
        "top_artist_percent": 1.0,
        "hourly_minutes": [
            10,
            5,
            2,
            0,
            0,
            0,
            15,
            60,
            120,
            200,
            180,
            150,
            300,
            320,
            280,
            260,
            400,
            620,
            900,
            1100,
            1300,
            1200,
            800,
            300,
        ],
        "peak_hour": 20,
        "monthly_minutes": [900, 800, 1000, 1200, 1100, 1300, 1500, 1400, 1200, 1100, 845, 0],
        "monthly_top_artist": [
            "Velvet Lanes",
            "Neon Harbor",
            "Velvet Lanes",
            "Crystal Forest",
            "Velvet Lanes",
            "Lunar Club",
            "Velvet Lanes",
            "Neon Harbor",
            "Velvet Lanes",
            "Quiet Ocean",
            "Velvet Lanes",
            None,
        ],
        "busiest_day": date(2025, 3, 14),
        "busiest_day_minutes": 312,
        "longest_streak_days": 45,
        "new_artists": 40,
        "personality": "LNCE",
        "minutes_change_pct": 12.5,
        "distinct_genres": 14,
        "top_track_percent": 2.0,
        "listening_era": 2010,
        "listening_age": year - (2010 + 2) + 18,  # recap-rules.md: 31 in 2025
    }
    row.update(overrides)
    return row


def one_play(user_id: str = "usr_one", year: int = 2025) -> dict:
    """The smallest listener: one 40-second play, so every floored minute is 0."""
    return recap(
        user_id,
        year,
        listening_minutes=0,
        music_minutes=0,
        podcast_minutes=0,
        streams=1,
        distinct_tracks=1,
        distinct_artists=1,
        top_tracks=[
            {"track_name": "Only Song", "artist_name": "Only Artist", "streams": 1, "minutes": 0}
        ],
        top_artists=[{"artist_name": "Only Artist", "streams": 1, "minutes": 0}],
        top_genres=[],
        top_artist_percent=None,
        hourly_minutes=[0] * 24,
        peak_hour=7,
        monthly_minutes=[0] * 12,
        monthly_top_artist=[None, "Only Artist"] + [None] * 10,
        busiest_day=date(2025, 2, 3),
        busiest_day_minutes=0,
        longest_streak_days=1,
        new_artists=None,
        personality=None,
        minutes_change_pct=None,
        distinct_genres=0,
        top_track_percent=None,
        listening_era=None,
        listening_age=None,
    )


def marathon(user_id: str = "usr_marathon", year: int = 2025) -> dict:
    """20 hours a day for the whole window (319 days): huge, lopsided values."""
    per_day = 20 * 60
    days = 319
    hourly = [days * 60] * 20 + [0] * 4
    monthly = [
        31 * per_day,
        28 * per_day,
        31 * per_day,
        30 * per_day,
        31 * per_day,
        30 * per_day,
        31 * per_day,
        31 * per_day,
        30 * per_day,
        31 * per_day,
        15 * per_day,
        0,
    ]
    return recap(
        user_id,
        year,
        listening_minutes=days * per_day,
        music_minutes=days * per_day,
        podcast_minutes=0,
        streams=days * per_day // 3,
        hourly_minutes=hourly,
        peak_hour=0,
        monthly_minutes=monthly,
        busiest_day_minutes=per_day,
        longest_streak_days=days,
        minutes_change_pct=-99999.9,
        top_artist_percent=0.1,
        personality="VTUF",
    )


def hostile(name: str, user_id: str = "usr_hostile", year: int = 2025) -> dict:
    """Every user-derived text field set to ``name``."""
    return recap(
        user_id,
        year,
        top_tracks=[
            {"track_name": name, "artist_name": name, "streams": 5 - i, "minutes": 9}
            for i in range(5)
        ],
        top_artists=[{"artist_name": name, "streams": 5 - i, "minutes": 9} for i in range(5)],
        top_albums=[{"album_name": name, "artist_name": name, "streams": 3}],
        top_genres=[{"genre": name, "streams": 5 - i} for i in range(5)],
        top_podcasts=[{"show_name": name, "minutes": 3}],
        top_songs=[{"track_name": name, "artist_name": name}] * 3,
        monthly_top_artist=[name] * 12,
    )


def decode_png(data: bytes) -> tuple[int, int, list[bytearray]]:
    """(width, height, rows of RGBA bytes) of an 8-bit RGBA/RGB PNG, without Pillow."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(
            line
            if bpp == 4
            else bytearray(b for px in range(width) for b in (*line[px * 3 : px * 3 + 3], 255))
        )
        prev = line
    return width, height, rows


def count_pixels(
    png: bytes, box: tuple[int, int, int, int], near: tuple[int, int, int], tolerance: int = 60
) -> int:
    """How many pixels inside ``box`` (x0, y0, x1, y1) are within ``tolerance`` of ``near``."""
    _, _, rows = decode_png(png)
    x0, y0, x1, y1 = box
    n = 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            r, g, b = row[4 * x], row[4 * x + 1], row[4 * x + 2]
            if abs(r - near[0]) + abs(g - near[1]) + abs(b - near[2]) <= tolerance:
                n += 1
    return n
