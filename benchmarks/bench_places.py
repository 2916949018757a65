"""Measure the gazetteer: time to be ready, resident memory, and suggest/resolve latency.

Run: ``.venv/bin/python benchmarks/bench_places.py [min_population ...]`` (default 15000).
Each size is measured in a fresh Python process (after another one built the index, as a first
start does), so the resident figures are its own: RSS before importing the gazetteer, after
importing it, after ``load()``, and after 2,000 lookups. The standard-library modules every bot
process has loaded anyway (sqlite3, dataclasses, ...) are imported before the first figure, so
"import" is what the gazetteer itself adds (its code and rapidfuzz).
Prints figures; not a test.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import functools
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# Loaded in any bot process before the gazetteer (SQLAlchemy, aiosqlite, discord.py use them).
PRELOADED = (array, dataclasses, functools, sqlite3, threading, unicodedata)

if TYPE_CHECKING:
    from bot.services.places import Place

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUERIES = 1000


def _rss_mib() -> float:
    """Resident set size of this process now (Linux), in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


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
    from bot.errors import DomainError

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
        f"p50 {pct(0.50):.3f}  p99 {pct(0.99):.3f}  max {ordered[-1]:.3f} ms"
    )


def bench_one(min_population: int, index_dir: Path) -> None:
    """Measure one size in this (fresh) process; the index in ``index_dir`` is already built."""
    rss_start = _rss_mib()
    start = time.perf_counter()
    from bot.services.places import Gazetteer  # its imports are part of the cost

    import_s = time.perf_counter() - start
    rss_imported = _rss_mib()
    gazetteer = Gazetteer(min_population, index_dir=index_dir)
    start = time.perf_counter()
    gazetteer.load()
    load_s = time.perf_counter() - start
    rss_loaded = _rss_mib()

    queries = json.loads((index_dir / "queries.json").read_text(encoding="utf-8"))
    prefixes, resolves = queries["suggest"], queries["resolve"]
    suggest = _time_calls(gazetteer.suggest, prefixes)
    resolve = _time_calls(gazetteer.resolve, resolves)
    rss_used = _rss_mib()

    print(f"min_population={min_population}: {len(gazetteer)} places")
    print(f"  import   {import_s:.2f} s, +{rss_imported - rss_start:.1f} MiB resident")
    print(f"  ready    {load_s:.2f} s (load), +{rss_loaded - rss_imported:.1f} MiB resident")
    _report("suggest", suggest)
    _report("resolve", resolve)
    print(
        f"  resident +{rss_used - rss_start:.1f} MiB in all after import, load and "
        f"{len(suggest) + len(resolve)} lookups (process {rss_used:.0f} MiB)"
    )


def build_once(min_population: int, index_dir: Path) -> None:
    """Build the on-disk index (what a first start does), timed; write the queries to time."""
    from bot.services.places import Gazetteer

    start = time.perf_counter()
    gazetteer = Gazetteer(min_population, index_dir=index_dir)
    gazetteer.load()
    built_s = time.perf_counter() - start
    print(f"min_population={min_population}: first start (builds the index) {built_s:.2f} s")
    # Made here, so that the measured process never holds every place at once.
    prefixes, resolves = _queries(list(gazetteer), random.Random(2014))
    queries = json.dumps({"suggest": prefixes, "resolve": resolves})
    (index_dir / "queries.json").write_text(queries, encoding="utf-8")


def main() -> None:
    if sys.argv[1:2] in (["--one"], ["--build"]):
        size, index_dir = int(sys.argv[2]), Path(sys.argv[3])
        (bench_one if sys.argv[1] == "--one" else build_once)(size, index_dir)
        return
    sizes = [int(arg) for arg in sys.argv[1:]] or [15000]
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            for mode in ("--build", "--one"):
                subprocess.run(
                    [sys.executable, __file__, mode, str(size), tmp], check=True, cwd=REPO
                )


if __name__ == "__main__":
    main()
