"""The offline gazetteer, on the real GeoNames data (no mocks).

One Gazetteer is loaded per module (about a second) and shared by all tests.
"""

from __future__ import annotations

import csv
import dataclasses
import statistics
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import DomainError
from bot.services.places import (
    AmbiguousPlace,
    Gazetteer,
    Place,
    PlaceNotFound,
    normalize,
)
from tests.paths import MEMBER_CONCENTRATIONS_CSV

MEMBER_DATA = MEMBER_CONCENTRATIONS_CSV
PORTLAND_OR = 5746545


def _member_rows() -> list[dict[str, str]]:
    with MEMBER_DATA.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


MEMBER_ROWS = _member_rows()


# ---------------------------------------------------------------- member data


@pytest.mark.parametrize("row", MEMBER_ROWS, ids=[f"{r['city']}-{r['state']}" for r in MEMBER_ROWS])
@pytest.mark.parametrize("form", ["{city}, {state}, {country}", "{city}, {state}"])
def test_every_member_city_resolves(gazetteer: Gazetteer, row: dict[str, str], form: str) -> None:
    place = gazetteer.resolve(form.format(**row))
    assert normalize(place.name) == normalize(row["city"])
    assert place.region_code == row["state"]
    assert place.country_code == row["country"]
    assert place.continent_code == "NA"
    assert place.timezone.startswith("America/")
    assert place.label == f"{place.name}, {row['state']}, {row['country']}"


def test_member_data_has_no_failures(gazetteer: Gazetteer) -> None:
    failures = []
    for row in MEMBER_ROWS:
        query = f"{row['city']}, {row['state']}, {row['country']}"
        try:
            place = gazetteer.resolve(query)
        except DomainError as error:
            failures.append(f"{query}: {error.message}")
            continue
        if (place.region_code, place.country_code) != (row["state"], row["country"]):
            failures.append(f"{query}: got {place.label}")
    assert failures == []
    assert len(MEMBER_ROWS) >= 30


# ---------------------------------------------------------------- ambiguity


def test_portland_alone_is_ambiguous(gazetteer: Gazetteer) -> None:
    with pytest.raises(AmbiguousPlace) as caught:
        gazetteer.resolve("Portland")
    error = caught.value
    assert error.query == "Portland"
    regions = {(p.region_code, p.country_code) for p in error.candidates}
    assert {("OR", "US"), ("ME", "US")} <= regions
    populations = [p.population for p in error.candidates]
    assert populations == sorted(populations, reverse=True)
    assert error.candidates[0].region_code == "OR"
    assert "Portland, OR, US" in error.message
    assert "Portland, ME, US" in error.message
    assert isinstance(error, DomainError)


def test_springfield_is_ambiguous_with_at_most_ten_candidates(gazetteer: Gazetteer) -> None:
    with pytest.raises(AmbiguousPlace) as caught:
        gazetteer.resolve("Springfield")
    candidates = caught.value.candidates
    assert 2 <= len(candidates) <= 10
    assert {"IL", "MA", "MO"} <= {p.region_code for p in candidates}


@pytest.mark.parametrize("query", ["Paris", "Vancouver", "London", "Cambridge"])
def test_names_shared_across_countries_are_ambiguous(gazetteer: Gazetteer, query: str) -> None:
    with pytest.raises(AmbiguousPlace) as caught:
        gazetteer.resolve(query)
    assert len({p.country_code for p in caught.value.candidates}) >= 2


# ---------------------------------------------------------------- qualifiers


@pytest.mark.parametrize(
    "query",
    [
        "Portland, OR",
        "Portland, Oregon",
        "Portland, OR, US",
        "portland, or, usa",
        "PORTLAND ,  Oregon , United States",
        "Portland Oregon",
        "Portland, OR, United States of America",
        str(PORTLAND_OR),
        f" {PORTLAND_OR} ",
    ],
)
def test_portland_oregon(gazetteer: Gazetteer, query: str) -> None:
    place = gazetteer.resolve(query)
    assert place.geoname_id == PORTLAND_OR
    assert place.name == "Portland"
    assert place.region_code == "OR"
    assert place.region_name == "Oregon"
    assert place.country_code == "US"
    assert place.country_name == "United States"
    assert place.timezone == "America/Los_Angeles"


def test_portland_maine(gazetteer: Gazetteer) -> None:
    assert gazetteer.resolve("Portland, ME").region_name == "Maine"
    assert gazetteer.resolve("Portland, Maine, US").region_code == "ME"


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("Paris, FR", "Paris, FR"),
        ("Paris, France", "Paris, FR"),
        ("Paris, TX", "Paris, TX, US"),
        ("Vancouver, BC", "Vancouver, BC, CA"),
        ("Vancouver, Canada", "Vancouver, BC, CA"),
        ("Vancouver, CA", "Vancouver, BC, CA"),  # no Vancouver in California
        ("Vancouver, WA", "Vancouver, WA, US"),
        ("London, UK", "London, GB"),
        ("London, England", "London, GB"),
        ("London, ON", "London, ON, CA"),
        ("Sydney, NSW", "Sydney, NSW, AU"),
        ("Sydney, Australia", "Sydney, NSW, AU"),
        ("Washington, D.C.", "Washington, DC, US"),
        ("Washington DC", "Washington, DC, US"),
        ("Cambridge, MA", "Cambridge, MA, US"),
        ("New York", "New York City, NY, US"),
        ("New York, NY", "New York City, NY, US"),
        ("St. Louis, MO", "St. Louis, MO, US"),
        ("Saint Louis, Missouri", "St. Louis, MO, US"),
        ("St Paul, MN", "Saint Paul, MN, US"),
        ("Munchen", "Munich, DE"),
        ("Misato, Saitama, JP", "Misato, Saitama, JP"),
    ],
)
def test_qualified_and_alternate_names(gazetteer: Gazetteer, query: str, label: str) -> None:
    assert gazetteer.resolve(query).label == label


def test_unknown_qualifier_suggests_the_namesakes(gazetteer: Gazetteer) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        gazetteer.resolve("Portland, Narnia")
    labels = [p.label for p in caught.value.suggestions]
    assert labels[:2] == ["Portland, OR, US", "Portland, ME, US"]


# ---------------------------------------------------------------- not found


def test_typo_is_not_found_with_suggestions(gazetteer: Gazetteer) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        gazetteer.resolve("Chicgo")
    error = caught.value
    assert error.query == "Chicgo"
    assert 1 <= len(error.suggestions) <= 5
    assert error.suggestions[0].label == "Chicago, IL, US"
    assert "“Chicgo”" in error.message
    assert "Did you mean Chicago, IL, US?" in error.message
    assert "suggestions" in error.message
    assert isinstance(error, DomainError)


def test_typo_with_qualifier_narrows_suggestions(gazetteer: Gazetteer) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        gazetteer.resolve("Chicgo, IL")
    assert [p.label for p in caught.value.suggestions] == ["Chicago, IL, US"]


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_blank_query_is_not_found_without_suggestions(gazetteer: Gazetteer, query: str) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        gazetteer.resolve(query)
    assert caught.value.suggestions == []
    assert "city" in caught.value.message


def test_unknown_id_is_not_found(gazetteer: Gazetteer) -> None:
    with pytest.raises(PlaceNotFound) as caught:
        gazetteer.resolve("999999999")
    assert caught.value.suggestions == []
    assert gazetteer.get(999999999) is None


def test_nonsense_is_not_found(gazetteer: Gazetteer) -> None:
    with pytest.raises(PlaceNotFound):
        gazetteer.resolve("qqqqxxxzzzz")


# ---------------------------------------------------------------- diacritics


@pytest.mark.parametrize(
    ("query", "name", "country"),
    [
        ("Zurich", "Zürich", "CH"),
        ("ZÜRICH", "Zürich", "CH"),
        ("Sao Paulo", "São Paulo", "BR"),
        ("são paulo", "São Paulo", "BR"),
        ("Sao-Paulo", "São Paulo", "BR"),
        ("Koln", "Köln", "DE"),
        ("Lodz", "Łódź", "PL"),
        ("Malmo", "Malmö", "SE"),
        ("Montreal", "Montréal", "CA"),
    ],
)
def test_diacritics_are_ignored(gazetteer: Gazetteer, query: str, name: str, country: str) -> None:
    place = gazetteer.resolve(query)
    assert (place.name, place.country_code) == (name, country)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("  São-Paulo ", "sao paulo"),
        ("Zürich", "zurich"),
        ("St. John's", "st johns"),
        ("Łódź", "lodz"),
        ("Straße", "strasse"),
        ("Hà Nội", "ha noi"),
        ("", ""),
    ],
)
def test_normalize(text: str, key: str) -> None:
    assert normalize(text) == key


# ---------------------------------------------------------------- places


@pytest.mark.parametrize(
    ("query", "timezone", "continent_code", "continent_name", "country_name"),
    [
        ("Berlin", "Europe/Berlin", "EU", "Europe", "Germany"),
        ("Tokyo", "Asia/Tokyo", "AS", "Asia", "Japan"),
        ("Nairobi", "Africa/Nairobi", "AF", "Africa", "Kenya"),
        ("Sydney, AU", "Australia/Sydney", "OC", "Oceania", "Australia"),
        ("São Paulo", "America/Sao_Paulo", "SA", "South America", "Brazil"),
        ("San Francisco, CA", "America/Los_Angeles", "NA", "North America", "United States"),
    ],
)
def test_timezone_and_continent(
    gazetteer: Gazetteer,
    query: str,
    timezone: str,
    continent_code: str,
    continent_name: str,
    country_name: str,
) -> None:
    place = gazetteer.resolve(query)
    assert place.timezone == timezone
    assert place.continent_code == continent_code
    assert place.continent_name == continent_name
    assert place.country_name == country_name
    assert place.population > 100_000
    assert -90 <= place.latitude <= 90
    assert -180 <= place.longitude <= 180


@pytest.mark.parametrize(
    ("query", "label"),
    [
        ("San Francisco, California", "San Francisco, CA, US"),
        ("Berlin", "Berlin, DE"),
        ("Tokyo", "Tokyo, JP"),
        ("Toronto", "Toronto, ON, CA"),
        ("Zurich", "Zürich, CH"),
        ("Newport, Wales", "Newport, WLS, GB"),
    ],
)
def test_labels(gazetteer: Gazetteer, query: str, label: str) -> None:
    assert gazetteer.resolve(query).label == label


def test_labels_resolve_back(gazetteer: Gazetteer) -> None:
    for place in gazetteer.suggest("", 25) + gazetteer.suggest("San", 25):
        assert gazetteer.resolve(place.label) == place
    springfields = gazetteer.suggest("Springfield", 25)
    assert len(springfields) >= 5
    for place in springfields:
        assert gazetteer.resolve(place.label) == place


def test_region_names(gazetteer: Gazetteer) -> None:
    assert gazetteer.resolve("Toronto").region_name == "Ontario"
    assert gazetteer.resolve("Melbourne, AU").region_name == "Victoria"
    assert gazetteer.resolve("Edinburgh").region_name == "Scotland"
    assert gazetteer.resolve("Washington, DC").region_name == "District of Columbia"


def test_get_by_id(gazetteer: Gazetteer) -> None:
    place = gazetteer.get(PORTLAND_OR)
    assert place is not None
    assert place.label == "Portland, OR, US"
    assert gazetteer.resolve(str(place.geoname_id)) is place


def test_place_is_a_frozen_value(gazetteer: Gazetteer) -> None:
    place = gazetteer.resolve("Berlin")
    with pytest.raises(dataclasses.FrozenInstanceError):
        place.name = "Bonn"  # type: ignore[misc]
    copy = Place(**{f.name: getattr(place, f.name) for f in dataclasses.fields(Place)})
    assert copy == place
    assert hash(copy) == hash(place)


def test_place_built_by_hand_has_a_label() -> None:
    place = Place(
        geoname_id=1,
        name="Ames",
        region_code="IA",
        region_name="Iowa",
        country_code="US",
        country_name="United States",
        continent_code="NA",
        continent_name="North America",
        latitude=42.03,
        longitude=-93.62,
        timezone="America/Chicago",
        population=66000,
    )
    assert place.label == "Ames, IA, US"
    assert dataclasses.replace(place, country_code="DE", region_code="01").label == "Ames, DE"


def test_min_population_below_smallest_dataset_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_population"):
        Gazetteer(min_population=100)


def test_construction_is_lazy() -> None:
    gazetteer = Gazetteer()
    assert not gazetteer.loaded


# ---------------------------------------------------------------- suggest


def test_suggest_chi_has_chicago_first(gazetteer: Gazetteer) -> None:
    results = gazetteer.suggest("Chi")
    assert len(results) <= 25
    assert "Chicago, IL, US" in [p.label for p in results[:3]]


def test_suggest_ranks_prefix_matches_by_population(gazetteer: Gazetteer) -> None:
    results = gazetteer.suggest("Port", 10)
    assert all(normalize(p.name).startswith("port") for p in results)
    populations = [p.population for p in results]
    assert populations == sorted(populations, reverse=True)


def test_suggest_falls_back_to_fuzzy_matches(gazetteer: Gazetteer) -> None:
    assert gazetteer.suggest("Chicgo")[0].label == "Chicago, IL, US"


def test_suggest_with_a_qualifier(gazetteer: Gazetteer) -> None:
    assert gazetteer.suggest("Portland, M")[0].label == "Portland, ME, US"
    assert gazetteer.suggest("Portland, O")[0].label == "Portland, OR, US"


def test_suggest_ignores_diacritics(gazetteer: Gazetteer) -> None:
    assert gazetteer.suggest("Zur")[0].name == "Zürich"
    assert gazetteer.suggest("sao pa")[0].name == "São Paulo"


def test_suggest_empty_gives_the_largest_cities(gazetteer: Gazetteer) -> None:
    results = gazetteer.suggest("")
    assert len(results) == 25
    populations = [p.population for p in results]
    assert populations == sorted(populations, reverse=True)
    assert populations[-1] > 5_000_000


def test_suggest_by_id(gazetteer: Gazetteer) -> None:
    assert [p.geoname_id for p in gazetteer.suggest(str(PORTLAND_OR))] == [PORTLAND_OR]


@pytest.mark.parametrize("limit", [-1, 0, 1, 5, 25, 26, 1000])
def test_suggest_respects_limit(gazetteer: Gazetteer, limit: int) -> None:
    results = gazetteer.suggest("a", limit)
    assert len(results) == max(0, min(limit, 25))
    assert len({p.geoname_id for p in results}) == len(results)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=120), limit=st.integers(min_value=-5, max_value=60))
def test_suggest_never_raises_and_stays_within_limit(
    gazetteer: Gazetteer, text: str, limit: int
) -> None:
    results = gazetteer.suggest(text, limit)
    assert len(results) <= min(max(limit, 0), 25)
    assert all(isinstance(p, Place) for p in results)
    assert len({p.geoname_id for p in results}) == len(results)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(max_size=120),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.'-", max_size=40),
    )
)
def test_resolve_answers_a_place_or_a_domain_error(gazetteer: Gazetteer, text: str) -> None:
    try:
        place = gazetteer.resolve(text)
    except AmbiguousPlace as error:
        assert 2 <= len(error.candidates) <= 10
        assert error.message
    except PlaceNotFound as error:
        assert len(error.suggestions) <= 5
        assert error.message
    else:
        assert isinstance(place, Place)


def test_suggest_is_fast(gazetteer: Gazetteer) -> None:
    queries = [
        name[:n]
        for name in ("Chicago", "Portland", "San Francisco", "Zürich", "Springfield", "Xyzzy")
        for n in range(1, 9)
    ] + ["Chicgo", "Portland, O", "s, u", ", CA", "Munchen", "New Yrok"]
    timings = []
    for query in queries * 3:
        start = time.perf_counter()
        gazetteer.suggest(query)
        timings.append(time.perf_counter() - start)
    # Budget is 5 ms per call; the median leaves room for a noisy machine.
    assert statistics.median(timings) < 0.005
