"""Measure the gazetteer: load time, memory, and per-call suggest/resolve timings.

Run: ``.venv/bin/python benchmarks/bench_places.py [min_population ...]``
(default 15000). Prints figures; not a test.
"""

from __future__ import annotations

import contextlib
import gc
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.errors import DomainError
from bot.services.places import Gazetteer, Place

QUERIES = 1000


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.choice(("drop", "swap", "double"))
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    if kind == "swap":
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i] + text[i:]


def _queries(places: list[Place], rng: random.Random) -> tuple[list[str], list[str]]:
    """About QUERIES autocomplete prefixes and QUERIES resolve inputs."""
    # Weight towards bigger places, as members mostly live there.
    weights = [p.population**0.5 for p in places]
    picks = rng.choices(places, weights=weights, k=QUERIES)
    prefixes: list[str] = []
    resolves: list[str] = []
    for n, place in enumerate(picks):
        kind = n % 5
        if kind == 0:
            prefixes.append(place.name[: rng.randint(1, 3)])
        elif kind == 1:
            prefixes.append(place.name[: rng.randint(4, 10)])
        elif kind == 2:
            prefixes.append(_typo(rng, place.name[: rng.randint(4, 12)]))
        elif kind == 3:
            prefixes.append(f"{place.name}, {place.region_code[:1]}")
        else:
            prefixes.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(8)))
        if kind == 0:
            resolves.append(place.name)
        elif kind == 1:
            resolves.append(place.label)
        elif kind == 2:
            resolves.append(_typo(rng, place.name))
        elif kind == 3:
            resolves.append(f"{place.name}, {place.region_name or place.country_name}")
        else:
            resolves.append(str(place.geoname_id))
    return prefixes, resolves


def _time_calls(fn: Callable[[str], object], inputs: list[str]) -> list[float]:
    timings = []
    for text in inputs:
        start = time.perf_counter()
        with contextlib.suppress(DomainError):
            fn(text)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _report(name: str, timings: list[float]) -> None:
    ordered = sorted(timings)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    print(
        f"  {name:8} n={len(ordered)}  mean {statistics.fmean(ordered):.3f} ms  "
        f"p50 {pct(0.50):.3f}  p95 {pct(0.95):.3f}  p99 {pct(0.99):.3f}  "
        f"max {ordered[-1]:.3f} ms"
    )


def bench(min_population: int) -> None:
    print(f"min_population={min_population}")
    gazetteer = Gazetteer(min_population)
    start = time.perf_counter()
    gazetteer.load()
    load_s = time.perf_counter() - start
    print(f"  load     {load_s:.2f} s, {len(gazetteer)} places")

    # Memory: a second, traced load (tracing slows it down, so it is not timed).
    del gazetteer
    gc.collect()
    tracemalloc.start()
    gazetteer = Gazetteer(min_population)
    gazetteer.load()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  memory   retained {current / 2**20:.0f} MiB, tracemalloc peak {peak / 2**20:.0f} MiB")

    places = list(gazetteer)
    prefixes, resolves = _queries(places, random.Random(2014))
    _report("suggest", _time_calls(gazetteer.suggest, prefixes))
    _report("resolve", _time_calls(gazetteer.resolve, resolves))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process max RSS so far {rss:.0f} MiB")


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [15000]
    for size in sizes:
        bench(size)


if __name__ == "__main__":
    main()
