"""The welcome benchmark at a tiny size: it runs, and its figures say everyone was welcomed."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from bot.services.places import Gazetteer
from tests.paths import REPO_ROOT


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_welcome", REPO_ROOT / "benchmarks" / "bench_welcome.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_a_small_burst_is_welcomed_without_rate_limits(gazetteer: Gazetteer) -> None:
    figures = await load_benchmark().run(12, 1.0, gazetteer, wait_seconds=30)
    assert figures.welcomed == 12 and figures.all_welcomed_after is not None
    assert figures.dms == 12 and figures.rate_limited == 0
    assert figures.welcome_posts < 12  # newcomers of a burst share posts
    assert figures.acks > 0 and figures.unanswered == 0
    assert len(figures.lines()) == 4
