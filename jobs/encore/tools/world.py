"""The invented music world `encore generate` draws from (tools/generate.py writes it).

Countries with their time zones and weights, genres, the word lists artist, track,
album and show names are made of, playlist titles (common ones used by thousands,
rare user-typed ones, and the seed's example "God is a man"), and :class:`Catalog`:
Zipf-popular artists with their tracks and albums, shows and episodes, audiobooks,
drawn from one random stream so the same seed gives the same world.
"""

from __future__ import annotations

import json

import numpy as np

from encore.tools.scenes import scene_name, scene_of_artist

# country, IANA time zones, weight
COUNTRIES: list[tuple[str, tuple[str, ...], float]] = [
    ("US", ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"), 20),
    ("GB", ("Europe/London",), 7),
    ("DE", ("Europe/Berlin",), 7),
    ("FR", ("Europe/Paris",), 6),
    ("BR", ("America/Sao_Paulo",), 8),
    ("MX", ("America/Mexico_City",), 5),
    ("SE", ("Europe/Stockholm",), 3),
    ("ES", ("Europe/Madrid",), 4),
    ("IT", ("Europe/Rome",), 3),
    ("NL", ("Europe/Amsterdam",), 2),
    ("PL", ("Europe/Warsaw",), 2),
    ("TR", ("Europe/Istanbul",), 2),
    ("CA", ("America/Toronto", "America/Vancouver"), 3),
    ("AR", ("America/Argentina/Buenos_Aires",), 2),
    ("JP", ("Asia/Tokyo",), 4),
    ("KR", ("Asia/Seoul",), 2),
    ("IN", ("Asia/Kolkata",), 5),
    ("ID", ("Asia/Jakarta",), 3),
    ("PH", ("Asia/Manila",), 2),
    ("AU", ("Australia/Sydney", "Australia/Perth"), 3),
    ("NZ", ("Pacific/Auckland",), 1),
    ("NG", ("Africa/Lagos",), 1),
    ("ZA", ("Africa/Johannesburg",), 1),
]

GENRES = [
    "pop",
    "dance pop",
    "rock",
    "indie rock",
    "alternative",
    "hip hop",
    "rap",
    "trap",
    "r&b",
    "soul",
    "jazz",
    "blues",
    "country",
    "folk",
    "singer-songwriter",
    "electronic",
    "house",
    "techno",
    "drum and bass",
    "ambient",
    "classical",
    "metal",
    "punk",
    "reggaeton",
    "latin pop",
    "k-pop",
    "j-pop",
    "afrobeats",
    "funk",
    "lo-fi",
    "gospel",
    "bossa nova",
]

_WORDS_A = [
    "Velvet",
    "Neon",
    "Silver",
    "Midnight",
    "Golden",
    "Paper",
    "Electric",
    "Crystal",
    "Wild",
    "Lunar",
    "Quiet",
    "Violet",
    "Static",
    "Ocean",
    "Burning",
    "Hollow",
    "Sugar",
    "Northern",
    "Glass",
    "Little",
    "Broken",
    "Cosmic",
    "Honey",
    "Iron",
    "Scarlet",
    "Dream",
    "Echo",
    "Saint",
]
_WORDS_B = [
    "Echoes",
    "Tigers",
    "Hearts",
    "Rivers",
    "Ghosts",
    "Machines",
    "Lights",
    "Wolves",
    "Kids",
    "Satellites",
    "Parade",
    "Club",
    "Orchestra",
    "Season",
    "Avenue",
    "Riot",
    "Garden",
    "Signal",
    "Harbor",
    "Horizon",
    "Collective",
    "Mirrors",
    "Foxes",
    "Radio",
    "Youth",
    "Bloom",
    "Cartel",
]
_FIRST = [
    "Ava",
    "Leo",
    "Mia",
    "Noah",
    "Zoe",
    "Luca",
    "Ines",
    "Kai",
    "Sofia",
    "Omar",
    "Yuki",
    "Nia",
    "Ezra",
    "Lena",
    "Mateo",
    "Aria",
    "Jonas",
    "Amara",
    "Felix",
    "Rosa",
    "Hugo",
    "Maya",
    "Ravi",
]
_LAST = [
    "Vance",
    "Moreau",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Reyes",
    "Novak",
    "Castell",
    "Hart",
    "Sato",
    "Bianchi",
    "Adeyemi",
    "Kowalski",
    "Silva",
    "Kim",
    "Duarte",
    "Ferreira",
    "Nakamura",
]
_SONG_A = [
    "Summer",
    "Lonely",
    "Golden",
    "Electric",
    "Broken",
    "Midnight",
    "Blue",
    "Dancing",
    "Falling",
    "Crazy",
    "Sweet",
    "Lost",
    "Wild",
    "Secret",
    "Paper",
    "Fire",
    "Slow",
    "Perfect",
    "Heavy",
    "Neon",
]
_SONG_B = [
    "Heart",
    "Night",
    "Love",
    "Rain",
    "Dreams",
    "City",
    "Eyes",
    "Road",
    "Sky",
    "Girl",
    "Boy",
    "Waves",
    "Lights",
    "Roses",
    "Stars",
    "Ghost",
    "Money",
    "Fever",
    "Season",
    "Party",
    "Echo",
]
_SHOW_A = [
    "The Daily",
    "Morning",
    "Deep",
    "Curious",
    "True Crime",
    "Weekend",
    "Late Night",
    "Tiny",
    "Big",
    "Honest",
    "Nerdy",
    "Slow",
    "Loud",
    "Quiet",
    "Global",
    "Local",
]
_SHOW_B = [
    "Talk",
    "Minutes",
    "Stories",
    "Science",
    "History",
    "Money",
    "Football",
    "Comedy Hour",
    "Brief",
    "Mysteries",
    "Interviews",
    "Tech",
    "Kitchen",
    "Sessions",
    "News",
]
COMMON_TITLES = [
    "chill",
    "gym",
    "Workout",
    "road trip",
    "study",
    "party",
    "sad songs",
    "sleep",
    "running",
    "Focus",
    "throwbacks",
    "summer vibes",
    "car",
    "favorites",
    "my playlist",
    "rainy day",
    "love songs",
    "morning",
    "dinner",
    "cleaning",
]
RARE_TITLE_PARTS = ["songs for", "music for", "my", "the", "late", "best of", "vibes for", "mood:"]
RARE_TITLE_NOUNS = [
    "grandma",
    "the bus",
    "Tuesday",
    "crying in the club",
    "the void",
    "tax season",
    "my cat",
    "hiking",
    "a heist",
    "dishes",
    "Lisbon",
    "exam week",
    "the ferry",
    "dragons",
]
SEED_TITLE = "God is a man"
SEED_TRACK = ("God Is a Woman", "Ariadne Grand")


class Catalog:
    """Artists (Zipf-popular), their tracks and albums, shows and episodes, audiobooks."""

    def __init__(
        self,
        rng: np.random.Generator,
        n_artists: int,
        names_rng: np.random.Generator | None = None,
    ):
        self.n_artists = n_artists
        names: list[str] = []
        seen: set[str] = set()
        i = 0
        while len(names) < n_artists:
            if i % 3 == 0:
                name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            elif i % 3 == 1:
                name = f"The {rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
            else:
                name = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
            i += 1
            if name in seen:
                name = f"{name} {len(names)}"
            seen.add(name)
            names.append(name)
        names[2] = SEED_TRACK[1]  # the seed's popular artist, rank 3
        # a few names that exercise Unicode normalisation and escaping downstream
        if n_artists > 40:
            names[17] = "Beyonce\u0301 & The Fa\u0308hre"  # decomposed accents (NFD on purpose)
            names[29] = "Sigur Ros <Live>"
        # a quarter of the artists in other scripts (tools/scenes.py), from their own stream
        world = names_rng if names_rng is not None else np.random.default_rng([0, 7])
        scene_of = {}
        for a in range(n_artists):
            scene = scene_of_artist(a)
            if scene is None:
                continue
            name = scene_name(world, scene, "artist")
            if name in seen:
                name = f"{name} {a}"
            seen.add(name)
            names[a] = name
            scene_of[a] = scene
        self.artist_names = names
        ranks = np.arange(1, n_artists + 1)
        w = 1.0 / ranks**1.07
        self.artist_p = w / w.sum()
        self.artist_cum = np.cumsum(self.artist_p)
        self.artist_genres = [
            sorted(set(rng.choice(GENRES, size=int(rng.integers(0, 4)), replace=False).tolist()))
            for _ in range(n_artists)
        ]
        # tracks: popular artists have more tracks
        per_artist = np.clip((30 / ranks**0.35).astype(int), 4, 30)
        self.track_artist = np.repeat(np.arange(n_artists), per_artist)
        self.artist_first_track = np.concatenate([[0], np.cumsum(per_artist)[:-1]])
        self.artist_n_tracks = per_artist
        n_tracks = len(self.track_artist)
        self.track_names = [f"{rng.choice(_SONG_A)} {rng.choice(_SONG_B)}" for _ in range(n_tracks)]
        for t in range(n_tracks):
            scene = scene_of.get(int(self.track_artist[t]))
            if scene is not None:
                self.track_names[t] = scene_name(world, scene, "track")
        for a in range(n_artists):  # names unique within an artist
            first, n = self.artist_first_track[a], per_artist[a]
            used: set[str] = set()
            for t in range(first, first + n):
                if self.track_names[t] in used:
                    self.track_names[t] = f"{self.track_names[t]} (Part {t - first + 1})"
                used.add(self.track_names[t])
        seed_track = int(self.artist_first_track[2])
        self.track_names[seed_track] = SEED_TRACK[0]
        self.seed_track = seed_track
        album_of = rng.integers(0, 3, size=n_tracks)
        self.album_names = [
            None
            if (t % 23 == 5)
            else f"{self.track_names[self.artist_first_track[self.track_artist[t]]]} Vol. {album_of[t] + 1}"
            for t in range(n_tracks)
        ]
        years = rng.integers(1960, 2027, size=n_tracks)
        recent = rng.random(n_tracks) < 0.55
        years[recent] = rng.integers(2019, 2027, size=int(recent.sum()))
        self.release_year = years
        self.release_year_known = rng.random(n_tracks) > 0.08
        self.duration_ms = rng.integers(95_000, 330_000, size=n_tracks)
        self.track_uri = [f"spotify:track:{b62(rng, 22)}" for _ in range(n_tracks)]
        # shows and episodes
        n_shows = max(20, n_artists // 15)
        self.show_names = list(
            dict.fromkeys(
                f"{rng.choice(_SHOW_A)} {rng.choice(_SHOW_B)}" for _ in range(n_shows * 2)
            )
        )[:n_shows]
        n_shows = len(self.show_names)
        sw = 1.0 / np.arange(1, n_shows + 1) ** 1.1
        self.show_cum = np.cumsum(sw / sw.sum())
        self.episodes_per_show = 40
        self.episode_uri = [
            f"spotify:episode:{b62(rng, 22)}" for _ in range(n_shows * self.episodes_per_show)
        ]
        self.episode_len = rng.integers(12 * 60_000, 75 * 60_000, size=len(self.episode_uri))
        self.audiobooks = [
            (
                f"The {rng.choice(_WORDS_A)} {rng.choice(_SONG_B)}",
                f"spotify:audiobook:{b62(rng, 22)}",
            )
            for _ in range(12)
        ]
        self._frag_cache: dict[int, str] = {}

    def track_fragment(self, t: int) -> str:
        frag = self._frag_cache.get(t)
        if frag is None:
            album = self.album_names[t]
            frag = (
                f'"master_metadata_track_name":{json.dumps(self.track_names[t], ensure_ascii=False)},'
                f'"master_metadata_album_artist_name":{json.dumps(self.artist_names[self.track_artist[t]], ensure_ascii=False)},'
                f'"master_metadata_album_album_name":{json.dumps(album, ensure_ascii=False)},'
                f'"spotify_track_uri":"{self.track_uri[t]}",'
                '"episode_name":null,"episode_show_name":null,"spotify_episode_uri":null,'
                '"audiobook_title":null,"audiobook_uri":null,"audiobook_chapter_uri":null,"audiobook_chapter_title":null'
            )
            self._frag_cache[t] = frag
        return frag

    def episode_fragment(self, e: int) -> str:
        show = self.show_names[e // self.episodes_per_show]
        return (
            '"master_metadata_track_name":null,"master_metadata_album_artist_name":null,'
            '"master_metadata_album_album_name":null,"spotify_track_uri":null,'
            f'"episode_name":{json.dumps(f"{show} #{e % self.episodes_per_show + 1}", ensure_ascii=False)},'
            f'"episode_show_name":{json.dumps(show, ensure_ascii=False)},"spotify_episode_uri":"{self.episode_uri[e]}",'
            '"audiobook_title":null,"audiobook_uri":null,"audiobook_chapter_uri":null,"audiobook_chapter_title":null'
        )

    def audiobook_fragment(self, b: int, chapter: int) -> str:
        title, uri = self.audiobooks[b]
        return (
            '"master_metadata_track_name":null,"master_metadata_album_artist_name":null,'
            '"master_metadata_album_album_name":null,"spotify_track_uri":null,'
            '"episode_name":null,"episode_show_name":null,"spotify_episode_uri":null,'
            f'"audiobook_title":{json.dumps(title)},"audiobook_uri":"{uri}",'
            f'"audiobook_chapter_uri":"{uri}:ch{chapter}","audiobook_chapter_title":"Chapter {chapter}"'
        )

    def random_tracks(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n tracks by global popularity: a Zipf artist, then a Zipf-ish track of theirs."""
        artists = np.searchsorted(self.artist_cum, rng.random(n) * self.artist_cum[-1])
        return self.tracks_of(rng, artists)

    def tracks_of(self, rng: np.random.Generator, artists: np.ndarray) -> np.ndarray:
        n_t = self.artist_n_tracks[artists]
        pick = np.minimum((rng.random(len(artists)) ** 2.2 * n_t).astype(int), n_t - 1)
        return self.artist_first_track[artists] + pick


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b62(rng: np.random.Generator, n: int) -> str:
    return "".join(_B62[i] for i in rng.integers(0, 62, size=n))
