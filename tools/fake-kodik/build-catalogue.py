#!/usr/bin/env python3
"""Build the committed catalogue fixture of the fake Kodik server.

Joins the AniDB public anime title dump (December 2015) with the Kaggle
"Anime Recommendations Database" anime.csv and writes one compact JSON object per
title to catalogue.jsonl.gz next to this script. Python 3.11 standard library only.

The output is byte-for-byte reproducible: titles are ordered by kodik_id, derived
values come from stable hashes (never Python's randomised hash()), and the gzip
header carries no timestamp.

Usage:
    python3 tools/fake-kodik/build-catalogue.py \
        [--anidb /work/shared/data/anidb-anime-titles-2015.xml.gz] \
        [--kaggle /work/shared/data/kaggle-anime-2016.csv] \
        [--out tools/fake-kodik/catalogue.jsonl.gz]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import html
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Kodik ids of titles that exist only in the Kaggle file are offset so that they can
# never collide with AniDB aids (the 2015 dump stops below 12,000).
KAGGLE_ONLY_OFFSET = 20_000

KIND_BY_KAGGLE_TYPE = {
    "TV": "tv",
    "Movie": "movie",
    "OVA": "ova",
    "ONA": "ona",
    "Special": "special",
    "Music": "music",
}
TITLE_KIND = {"main": "main", "official": "official", "syn": "synonym", "short": "short", "kana": "synonym"}
TITLE_KIND_RANK = {"main": 0, "official": 1, "synonym": 2, "short": 3}


def stable_hash(*parts: object) -> int:
    """A hash that is the same on every machine and every run."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def normalise(name: str) -> str:
    """Join key for romaji names: entities decoded, accents and punctuation dropped, case folded."""
    text = unicodedata.normalize("NFKD", html.unescape(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", "", text.casefold())


def read_anidb(path: Path) -> dict[int, list[dict]]:
    with gzip.open(path, "rb") as fh:
        root = ET.parse(fh).getroot()
    anime: dict[int, list[dict]] = {}
    for node in root.findall("anime"):
        aid = int(node.get("aid"))
        titles = []
        for t in node.findall("title"):
            text = (t.text or "").strip()
            if not text:
                continue
            lang = t.get(XML_LANG) or "x-unk"
            titles.append(
                {
                    "lang": "romaji" if lang == "x-jat" else lang,
                    "kind": TITLE_KIND.get(t.get("type") or "syn", "synonym"),
                    "text": text,
                }
            )
        anime[aid] = titles
    return anime


def read_kaggle(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def build_index(anime: dict[int, list[dict]]) -> list[dict[str, list[int]]]:
    """Normalised name -> aids, in levels of decreasing trust."""
    levels: list[dict[str, list[int]]] = [{}, {}, {}, {}]
    for aid in sorted(anime):
        for t in anime[aid]:
            if t["lang"] == "romaji":
                level = 0 if t["kind"] == "main" else 1
            elif t["lang"] == "en":
                level = 2 if t["kind"] in ("main", "official") else 3
            else:
                continue
            key = normalise(t["text"])
            if key:
                bucket = levels[level].setdefault(key, [])
                if aid not in bucket:
                    bucket.append(aid)
    return levels


def join(anime: dict[int, list[dict]], kaggle: list[dict]) -> dict[int, int]:
    """MAL id -> aid. Popular Kaggle rows claim first; each aid is claimed once."""
    levels = build_index(anime)
    claimed: set[int] = set()
    result: dict[int, int] = {}
    for row in sorted(kaggle, key=lambda r: (-int(r["members"] or 0), int(r["anime_id"]))):
        key = normalise(row["name"])
        if not key:
            continue
        for level in levels:
            free = [aid for aid in level.get(key, []) if aid not in claimed]
            if free:
                aid = min(free)
                claimed.add(aid)
                result[int(row["anime_id"])] = aid
                break
    return result


def year_from_mal(mal_id: int, kind_known: bool) -> int:
    """MAL ids were handed out roughly in airing order after 2008; older ids are mixed."""
    if not kind_known:
        return 2017  # Announced titles without a type in the 2016 dump.
    bands = [
        (2_000, 1975, 2006),
        (5_000, 1985, 2008),
        (7_000, 2008, 2010),
        (10_000, 2010, 2011),
        (15_000, 2011, 2012),
        (20_000, 2012, 2013),
        (25_000, 2013, 2014),
        (30_000, 2014, 2015),
        (32_000, 2015, 2015),
        (35_000, 2016, 2016),
    ]
    for upper, low, high in bands:
        if mal_id < upper:
            return low + stable_hash("year", mal_id) % (high - low + 1)
    return 1990 + stable_hash("year", mal_id) % 27


YEAR_IN_TITLE = re.compile(r"(?<!\d)(19[6-9]\d|20[01]\d)(?!\d)")


def year_from_titles(titles: list[dict]) -> int | None:
    """A year written into a name ("Gintama` (2012)", "Ghost in the Shell 2.0 (2008)") wins."""
    years = [int(m) for t in titles for m in YEAR_IN_TITLE.findall(t["text"])]
    return min(years) if years else None


def year_from_aid(aid: int) -> int:
    bands = [(4_000, 1970, 2005), (7_000, 2006, 2009), (9_000, 2010, 2012), (10_500, 2013, 2014)]
    for upper, low, high in bands:
        if aid < upper:
            return low + stable_hash("year-aid", aid) % (high - low + 1)
    return 2015


def kind_from_titles(aid: int, titles: list[dict]) -> str:
    blob = " ".join(t["text"] for t in titles).casefold()
    if "movie" in blob or "gekijouban" in blob or "劇場版" in blob or "film" in blob:
        return "movie"
    if re.search(r"\b(ova|oav)\b", blob):
        return "ova"
    if "special" in blob:
        return "special"
    roll = stable_hash("kind", aid) % 100
    return "tv" if roll < 50 else "ova" if roll < 75 else "movie" if roll < 90 else "special"


def ordered_titles(titles: list[dict]) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    out = []
    for t in sorted(titles, key=lambda t: TITLE_KIND_RANK[t["kind"]]):
        key = (t["lang"], t["text"])
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def build(anidb_path: Path, kaggle_path: Path) -> tuple[list[dict], dict[str, int]]:
    anime = read_anidb(anidb_path)
    kaggle = read_kaggle(kaggle_path)
    mal_to_aid = join(anime, kaggle)
    records: list[dict] = []

    for row in kaggle:
        mal_id = int(row["anime_id"])
        aid = mal_to_aid.get(mal_id)
        # The Kaggle (MyAnimeList) name stays the main romaji title byte for byte,
        # HTML entities included: that dirt is a test case for the importer.
        titles = [{"lang": "romaji", "kind": "main", "text": row["name"]}]
        if aid is not None:
            for t in anime[aid]:
                if t["kind"] == "main":
                    t = {**t, "kind": "synonym"}
                titles.append(t)
        kind = KIND_BY_KAGGLE_TYPE.get(row["type"])
        episodes = None if row["episodes"] in ("", "Unknown") else int(row["episodes"])
        record = {
            "kodik_id": aid if aid is not None else KAGGLE_ONLY_OFFSET + mal_id,
            "anidb_id": aid,
            "shikimori_id": mal_id,
            "kind": kind or "tv",
            "status": "anons" if kind is None else ("ongoing" if episodes is None else "released"),
            "year": year_from_titles(titles) or year_from_mal(mal_id, kind is not None),
            "genres": [g.strip() for g in row["genre"].split(",") if g.strip()],
            "episodes": episodes,
            "rating": float(row["rating"]) if row["rating"] else None,
            "members": int(row["members"] or 0),
            "titles": ordered_titles(titles),
        }
        records.append(record)

    joined = set(mal_to_aid.values())
    for aid, titles in anime.items():
        if aid in joined:
            continue
        records.append(
            {
                "kodik_id": aid,
                "anidb_id": aid,
                "kind": kind_from_titles(aid, titles),
                "status": "released",
                "year": year_from_titles(titles) or year_from_aid(aid),
                "genres": [],
                "episodes": None,
                "rating": None,
                "members": 0,
                "titles": ordered_titles(titles),
            }
        )

    records.sort(key=lambda r: r["kodik_id"])
    ids = [r["kodik_id"] for r in records]
    assert len(ids) == len(set(ids)), "kodik_id must be unique"
    for r in records:
        if r["anidb_id"] is None:
            del r["anidb_id"]
    counts = {
        "anidb_anime": len(anime),
        "kaggle_rows": len(kaggle),
        "joined": len(mal_to_aid),
        "kaggle_only": len(kaggle) - len(mal_to_aid),
        "anidb_only": len(anime) - len(joined),
        "titles": len(records),
        "with_russian_title": sum(1 for r in records if any(t["lang"] == "ru" for t in r["titles"])),
        "with_html_entity": sum(1 for r in records if "&#" in r["titles"][0]["text"] or "&amp;" in r["titles"][0]["text"]),
        "names": sum(len(r["titles"]) for r in records),
    }
    return records, counts


def write(records: list[dict], out: Path) -> None:
    buf = io.BytesIO()
    # mtime=0 and no file name in the header keep the bytes identical between runs.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        for r in records:
            gz.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            gz.write(b"\n")
    out.write_bytes(buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anidb", type=Path, default=Path("/work/shared/data/anidb-anime-titles-2015.xml.gz"))
    parser.add_argument("--kaggle", type=Path, default=Path("/work/shared/data/kaggle-anime-2016.csv"))
    parser.add_argument("--out", type=Path, default=HERE / "catalogue.jsonl.gz")
    args = parser.parse_args()

    records, counts = build(args.anidb, args.kaggle)
    if len(records) < 9_000:
        raise SystemExit(f"only {len(records)} titles, expected at least 9000")
    write(records, args.out)
    for key, value in counts.items():
        print(f"{key}: {value}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
