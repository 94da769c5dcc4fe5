"""Top Songs as playlist files, written beside the recap page and put in the
listener's data export."""

from __future__ import annotations

import json

from encore.render.text import clean_text

PLAYLIST_M3U = "top-songs.m3u8"
PLAYLIST_XSPF = "top-songs.xspf"
PLAYLIST_JSPF = "top-songs.jspf"


def playlist_files(recap: dict, title: str) -> dict[str, bytes]:
    """The recap's ``top_songs`` (the top 100 tracks, recap-rules.md: "for the Your Top
    Songs playlist") as M3U8 (``#EXTINF`` lines), XSPF and JSPF (what ListenBrainz
    imports), by artist and title: no file paths or service ids, which a recap does not
    have; importers (ListenBrainz, playlist converters) match by name. Nothing when the
    listener has no top song."""
    from xml.sax.saxutils import escape

    tracks = [
        (clean_text(t.get("artist_name")) or "", clean_text(t.get("track_name")) or "")
        for t in (recap.get("top_songs") or [])
    ]
    tracks = [(a, t) for a, t in tracks if a and t]
    if not tracks:
        return {}

    def one_line(text: str) -> str:  # no line break can start another M3U directive
        return " ".join(text.split())

    m3u = ["#EXTM3U", f"#PLAYLIST:{one_line(title)}"]
    for artist, track in tracks:
        m3u += [
            f"#EXTINF:-1,{one_line(artist)} - {one_line(track)}",
            f"#EXTART:{one_line(artist)}",
            f"{one_line(artist)} - {one_line(track)}",
        ]
    xspf = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<playlist version="1" xmlns="http://xspf.org/ns/0/">',
        f"  <title>{escape(title)}</title>",
        "  <trackList>",
    ]
    for artist, track in tracks:
        xspf.append(
            f"    <track><creator>{escape(artist)}</creator><title>{escape(track)}</title></track>"
        )
    xspf += ["  </trackList>", "</playlist>"]
    jspf = {"playlist": {"title": title, "track": [{"creator": a, "title": t} for a, t in tracks]}}
    return {
        PLAYLIST_M3U: ("\n".join(m3u) + "\n").encode("utf-8"),
        PLAYLIST_XSPF: ("\n".join(xspf) + "\n").encode("utf-8"),
        PLAYLIST_JSPF: (json.dumps(jspf, ensure_ascii=False, indent=1) + "\n").encode("utf-8"),
    }
