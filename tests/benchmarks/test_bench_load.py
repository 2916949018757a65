"""The load benchmark at a tiny size, so it keeps working (its figures are not checked)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.paths import REPO_ROOT


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_load", REPO_ROOT / "benchmarks" / "bench_load.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_bench_load_runs_both_bots_and_fills_every_row() -> None:
    bench_load = load_benchmark()
    args = bench_load.parse_args(
        [
            "--members=5",
            "--latency-members=5",
            "--concurrency=2",
            "--autocomplete-concurrency=2",
            "--samples=2",
            "--chapters=1",
            "--chapter-members=2",
            "--runs=1",
            "--no-prime",
            "--validate",
        ]
    )
    results = await bench_load.bench(args)
    assert "/chapter info p99 at 2 concurrent" in results.rows
    assert "RSS at READY, 5 members" in results.rows
    for measure, row in results.rows.items():
        assert row.get("chapterbot"), f"no chapterbot figure for {measure}"
        assert row.get("bare"), f"no bare-bot figure for {measure}"
    assert "0 spec violations" in results.notes[-1]
    assert "| measure | chapterbot | bare discord.py | ratio |" in results.table()
