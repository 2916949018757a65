"""Load benchmark: chapterbot next to a bare discord.py bot, against one twin, in the same run.

Run: ``.venv/bin/python benchmarks/bench_load.py`` (a few minutes on 2 cores; ``--help`` for the
sizes). Figures, not a timed test. Each bot runs as its own process (so its RSS is its own) against
one twin on loopback that runs in this process:

* **chapterbot** is ``python -m bot`` exactly (settings from the environment, a migrated SQLite
  database in a temporary directory), wrapped only to print ``READY`` from ``on_ready``;
* **bare** is a discord.py bot with the same intents and member cache that answers every command
  with a constant: a short text for commands, and for autocomplete a constant list as long as a
  full answer (25 cities, 8 chapters), so both send the same amount.

Both wait ``--guild-ready-timeout`` (default 0.1 s) after the last GUILD_CREATE instead of
discord.py's 2 s, so start to READY measures the bots and not that wait. Before each measured start
a bot is started and stopped once (database migrated and members recorded, commands synced, files
in the page cache), so the measured start is a restart of a bot that has run before.

It prints first-response latency (INTERACTION_CREATE sent → interaction callback received, as the
twin sees it) at each concurrency for ``/about`` and ``/chapter info``, autocomplete latency at
``--autocomplete-concurrency``, RSS once READY and once settled (the process idle after READY),
and start to READY, side by side with the ratio chapterbot / bare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

READY_LINE = "READY"
CHILD_ENV_READY_WAIT = "BENCH_GUILD_READY_TIMEOUT"
CHILD_ENV_PROFILE = "BENCH_PROFILE_DIR"
CITIES = (
    "Chicago, IL, US",
    "Oakland, CA, US",
    "Boston, MA, US",
    "Austin, TX, US",
    "Seattle, WA, US",
    "Denver, CO, US",
    "Atlanta, GA, US",
    "Minneapolis, MN, US",
)
CITY_PREFIXES = ("S", "Sa", "San", "Chi", "Bos", "Port", "Lon", "Ber", "Mad", "To")


# -- the bots, as child processes ------------------------------------------------------------------


def run_chapterbot_child() -> None:
    """``python -m bot`` with two differences: the guild-ready wait, and READY on stdout."""
    import bot.__main__ as entry
    from bot.client import ChapterBot

    ready_wait = float(os.environ[CHILD_ENV_READY_WAIT])

    class BenchChapterBot(ChapterBot):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["guild_ready_timeout"] = ready_wait
            super().__init__(*args, **kwargs)

        async def on_ready(self) -> None:
            print(READY_LINE, flush=True)

    entry.ChapterBot = BenchChapterBot  # type: ignore[misc]
    profile_dir = os.environ.get(CHILD_ENV_PROFILE)
    if not profile_dir:
        entry.main()
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        entry.main()
    finally:
        profiler.disable()
        profiler.dump_stats(Path(profile_dir) / f"chapterbot-{os.getpid()}.prof")


def run_bare_child() -> None:
    """The baseline: discord.py and nothing else, answering with constants."""
    import discord
    import discord.gateway
    import discord.http
    import yarl
    from discord import app_commands

    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"].rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    intents = discord.Intents.none()  # the same intents as chapterbot
    intents.guilds = True
    intents.members = True
    intents.guild_reactions = True
    intents.dm_messages = True
    intents.guild_scheduled_events = True

    class BareBot(discord.Client):
        def __init__(self) -> None:
            super().__init__(
                intents=intents,
                guild_ready_timeout=float(os.environ[CHILD_ENV_READY_WAIT]),
                chunk_guilds_at_startup=True,
            )
            self.tree = app_commands.CommandTree(self)

        async def setup_hook(self) -> None:
            await self.tree.sync()

        async def on_ready(self) -> None:
            print(READY_LINE, flush=True)

    client = BareBot()

    @client.tree.command(name="about", description="About")
    async def about(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("bare bot", ephemeral=True)

    chapter = app_commands.Group(name="chapter", description="Chapters")

    @chapter.command(name="info", description="Info")
    async def info(interaction: discord.Interaction, chapter: str) -> None:
        await interaction.response.send_message(f"chapter {chapter}", ephemeral=True)

    chapters = [app_commands.Choice(name=f"{c.split(',')[0]} Chapter", value=c) for c in CITIES]
    cities = [app_commands.Choice(name=f"{CITIES[0]} {i}", value=str(i)) for i in range(25)]

    @info.autocomplete("chapter")
    async def chapter_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return chapters

    @chapter.command(name="propose", description="Propose")
    async def propose(interaction: discord.Interaction, city: str) -> None:
        await interaction.response.send_message("proposed", ephemeral=True)

    @propose.autocomplete("city")
    async def city_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return cities

    client.tree.add_command(chapter)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(client.close()))
        async with client:
            await client.start(os.environ["DISCORD_TOKEN"])

    asyncio.run(main())


# -- driving a child -------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class StartFigures:
    ready_seconds: float
    rss_ready_mib: float
    rss_settled_mib: float
    settled: bool


@dataclass
class BotProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None

    async def start(self, ready_timeout: float) -> float:
        """Spawn and wait for READY; returns seconds from spawn to READY."""
        self.log_path = self.workdir / f"{self.name}.log"
        log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.workdir,  # no stray .env is read
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert self.process.stdout is not None
        deadline = started + ready_timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{self.name} not READY within {ready_timeout} s; {self.tail()}")
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not line:
                code = await self.process.wait()
                raise RuntimeError(f"{self.name} exited with {code} before READY; {self.tail()}")
            if line.decode().strip() == READY_LINE:
                return time.perf_counter() - started

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "no log"
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "log tail:\n" + "\n".join(text[-15:])

    async def settle(self, limit_seconds: float, idle_share: float = 0.03) -> bool:
        """Until the process has used under ``idle_share`` of a core for a second."""
        assert self.process is not None
        pid = self.process.pid
        window: list[float] = [cpu_seconds(pid)]
        deadline = time.perf_counter() + limit_seconds
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.25)
            window.append(cpu_seconds(pid))
            if len(window) > 5:
                window.pop(0)
                if window[-1] - window[0] < idle_share:
                    return True
        return False

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# -- measuring -------------------------------------------------------------------------------------


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass
class Results:
    rows: dict[str, dict[str, float | None]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, measure: str, bot: str, value: float | None, unit: str) -> None:
        if measure not in self.rows:
            self.rows[measure] = {}
            self.order.append(measure)
        self.rows[measure][bot] = value
        self.units[measure] = unit

    def table(self) -> str:
        return combined_table([self])


def _cell(values: list[float], unit: str) -> str:
    def one(value: float) -> str:
        if unit == "ms":
            return f"{value * 1000:,.1f}"
        if unit == "s":
            return f"{value:.2f}"
        return f"{value:,.0f}"

    if not values:
        return "–"
    low, high = min(values), max(values)
    shown = one(low) if one(low) == one(high) else f"{one(low)}–{one(high)}"
    return f"{shown} {unit}"


def combined_table(runs: list[Results]) -> str:
    """One row per measure; with several runs each cell is the min-max over the runs and the
    ratio the min-max of the runs' ratios (each run's bots ran back to back)."""
    first = runs[0]
    lines = [
        "| measure | chapterbot | bare discord.py | ratio |",
        "|---|---|---|---|",
    ]
    for measure in first.order:
        unit = first.units[measure]
        ours = [v for r in runs if (v := r.rows.get(measure, {}).get("chapterbot")) is not None]
        bare = [v for r in runs if (v := r.rows.get(measure, {}).get("bare")) is not None]
        ratios = []
        for r in runs:
            row = r.rows.get(measure, {})
            mine, theirs = row.get("chapterbot"), row.get("bare")
            if mine is not None and theirs:
                ratios.append(mine / theirs)
        if not ratios:
            ratio = "–"
        elif f"{min(ratios):.1f}" == f"{max(ratios):.1f}":
            ratio = f"{min(ratios):.1f}×"
        else:
            ratio = f"{min(ratios):.1f}–{max(ratios):.1f}×"
        lines.append(f"| {measure} | {_cell(ours, unit)} | {_cell(bare, unit)} | {ratio} |")
    notes = [
        f"run {i + 1}: {note}" if len(runs) > 1 else note
        for i, r in enumerate(runs)
        for note in r.notes
    ]
    return "\n".join(lines + [f"\n{note}" for note in notes])


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        workdir: Path,
        order: tuple[str, ...] = ("chapterbot", "bare"),
    ) -> None:
        from twin import Twin

        self.order = order
        self.args = args
        self.workdir = workdir
        self.twin = Twin(validate=args.validate)
        self.twin.interaction_timeout = 60.0  # measure slow answers instead of refusing them
        self.results = Results()
        self.commands: dict[str, dict[int, dict[str, Any]]] = {}
        self.guild_id = 0
        self.actors: list[int] = []

    def bot(self, name: str) -> BotProcess:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(self.workdir)),
            "DISCORD_TOKEN": self.twin.token,
            "DISCORD_API_BASE": self.twin.api_base,
            "DISCORD_GATEWAY_URL": self.twin.gateway_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'chapterbot.db'}",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
            CHILD_ENV_READY_WAIT: str(self.args.guild_ready_timeout),
        }
        if self.args.profile:
            env[CHILD_ENV_PROFILE] = str(self.args.profile.resolve())
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", name]
        return BotProcess(name, argv, env, self.workdir)

    @contextlib.asynccontextmanager
    async def running(self, name: str) -> Any:
        """Start ``name`` with its own command registrations in the twin; stop it at the end."""
        world = self.twin.world
        if name in self.commands:
            world.global_commands.clear()
            world.global_commands.update(self.commands[name])
        child = self.bot(name)
        try:
            ready = await child.start(self.args.ready_timeout)
            yield child, ready
        finally:
            self.commands[name] = dict(world.global_commands)
            await child.stop()

    async def measure(self, name: str, members: int) -> None:
        """Start to READY and RSS at ``members``; latency too when it is the latency size."""
        latency = members == self.args.latency_members
        seed = latency and name == "chapterbot"
        if self.args.prime:
            async with self.running(name) as (child, _):
                await child.settle(self.args.settle_timeout)
                if seed:
                    await self.seed_chapters()
                    seed = False
        async with self.running(name) as (child, ready):
            rss_ready = rss_mib(child.pid)
            settled = await child.settle(self.args.settle_timeout)
            rss_settled = rss_mib(child.pid)
            label = f"{members:,} members"
            self.results.put(f"start to READY, {label}", name, ready, "s")
            self.results.put(f"RSS at READY, {label}", name, rss_ready, "MiB")
            self.results.put(f"RSS settled after READY, {label}", name, rss_settled, "MiB")
            if not settled:
                self.results.notes.append(
                    f"{name} at {label}: not idle within {self.args.settle_timeout} s"
                )
            print(
                f"  {name:<10} {label:>16}: READY after {ready:.2f} s, RSS {rss_ready:.0f} MiB "
                f"at READY, {rss_settled:.0f} MiB settled",
                flush=True,
            )
            if seed:
                await self.seed_chapters()
                await child.settle(self.args.settle_timeout)
            if latency:
                await self.measure_latency(name)

    async def slash(self, user: int, *names: str, **options: Any) -> Any:
        return await self.twin.slash(
            self.guild_id, None, user, *names, options={k: v for k, v in options.items()}
        )

    async def autocomplete(self, user: int, name: str, sub: str, focused: str, text: str) -> Any:
        from twin.interactions import build_command_interaction

        ix = build_command_interaction(
            self.twin.world,
            self.guild_id,
            None,
            user,
            name,
            subcommand=sub,
            group=None,
            options={focused: text},
            focused=focused,
        )
        return await self.twin._send_interaction(ix)

    async def burst(
        self, concurrency: int, rounds: int, send: Callable[[int], Awaitable[Any]]
    ) -> list[float]:
        """``rounds`` times, ``concurrency`` interactions at once; every first-response time."""
        samples: list[float] = []
        counter = 0
        for _ in range(rounds):
            sent = []
            for _ in range(concurrency):
                sent.append(send(counter))
                counter += 1
            interactions = await asyncio.gather(*sent)
            for ix in interactions:
                await ix.response(timeout=60)
                assert ix.responded_after is not None
                samples.append(ix.responded_after)
        return samples

    def rounds_for(self, concurrency: int) -> int:
        return max(1, -(-self.args.samples // concurrency))

    async def seed_chapters(self) -> None:
        """Members set a city, propose a chapter each in a few cities, the rest join them."""
        per_city = self.args.chapter_members
        cities = CITIES[: self.args.chapters]
        for index, user in enumerate(self.actors[: per_city * len(cities)]):
            city = cities[index % len(cities)]
            ix = await self.slash(user, "profile", "city", city=city)
            await ix.response(timeout=30)
            short = city.split(",")[0]
            if index < len(cities):
                ix = await self.slash(user, "chapter", "propose", city=city)
                await ix.response(timeout=30)
                await ix.wait_followup()
            else:
                ix = await self.slash(user, "chapter", "join", chapter=short)
                await ix.response(timeout=30)
        ix = await self.slash(self.actors[0], "chapter", "info", chapter=cities[0].split(",")[0])
        reply = await ix.response(timeout=30)
        if not reply["data"].get("embeds"):
            raise RuntimeError(f"/chapter info did not answer with a card: {reply}")

    async def measure_latency(self, name: str) -> None:
        actors = self.actors
        cities = [c.split(",")[0] for c in CITIES[: self.args.chapters]]

        def about(i: int) -> Any:
            return self.slash(actors[i % len(actors)], "about")

        def info(i: int) -> Any:
            return self.slash(
                actors[i % len(actors)], "chapter", "info", chapter=cities[i % len(cities)]
            )

        def city(i: int) -> Any:
            text = CITY_PREFIXES[i % len(CITY_PREFIXES)]
            return self.autocomplete(actors[i % len(actors)], "chapter", "propose", "city", text)

        def chapter(i: int) -> Any:
            text = cities[i % len(cities)][: 1 + i % 3]
            return self.autocomplete(actors[i % len(actors)], "chapter", "info", "chapter", text)

        await self.burst(5, 2, about)  # warm-up
        await self.burst(5, 2, info)
        for label, send in (("/about", about), ("/chapter info", info)):
            for concurrency in self.args.concurrency:
                samples = await self.burst(concurrency, self.rounds_for(concurrency), send)
                for pct in (50, 99):
                    self.results.put(
                        f"{label} p{pct} at {concurrency} concurrent",
                        name,
                        percentile(samples, pct),
                        "ms",
                    )
        concurrency = self.args.autocomplete_concurrency
        for label, send in (("city", city), ("chapter", chapter)):
            samples = await self.burst(concurrency, self.rounds_for(concurrency), send)
            self.results.put(
                f"{label} autocomplete p99 at {concurrency} concurrent",
                name,
                percentile(samples, 99),
                "ms",
            )
        print(f"  {name:<10} latency measured", flush=True)

    async def run(self) -> Results:
        args = self.args
        twin = self.twin
        await twin.start()
        twin.set_rate_limits(enabled=False)
        try:
            guild = twin.create_guild("Load Guild")
            self.guild_id = guild.id
            if args.latency_members not in args.members:
                raise SystemExit("--latency-members must be one of --members")
            sizes = sorted(set(args.members))
            present = 0
            for size in sizes:
                twin.add_members_bulk(guild.id, size - present)
                present = size
                if size == args.latency_members:
                    others = (twin.bot_user_id, guild.owner_id)
                    actors = [m for m in guild.members if m not in others]
                    self.actors = actors[: max(args.chapter_members * args.chapters, 20)]
                for name in self.order:
                    await self.measure(name, size)
            self.results.notes.append(
                f"{len(twin.spec_violations)} spec violations"
                + ("" if args.validate else " (schema check off)")
            )
        finally:
            await twin.stop()
        return self.results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def numbers(text: str) -> list[int]:
        return [int(part) for part in text.split(",") if part]

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--child", choices=("chapterbot", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--members", type=numbers, default=[0, 10_000, 50_000])
    parser.add_argument("--latency-members", type=int, default=10_000)
    parser.add_argument("--concurrency", type=numbers, default=[1, 10, 100])
    parser.add_argument("--autocomplete-concurrency", type=int, default=50)
    parser.add_argument("--samples", type=int, default=300, help="per measure and concurrency")
    parser.add_argument("--chapters", type=int, default=8, choices=range(1, len(CITIES) + 1))
    parser.add_argument("--chapter-members", type=int, default=12)
    parser.add_argument("--guild-ready-timeout", type=float, default=0.1)
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    parser.add_argument("--settle-timeout", type=float, default=120.0)
    parser.add_argument("--validate", action="store_true", help="check bodies against the spec")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of every chapterbot process into this directory",
    )
    parser.add_argument("--runs", type=int, default=3, help="each cell shows min–max over runs")
    parser.add_argument(
        "--no-prime", dest="prime", action="store_false", help="measure first starts (faster)"
    )
    return parser.parse_args(argv)


async def bench(args: argparse.Namespace, run: int = 0) -> Results:
    """One run; odd runs start with the bare bot, so neither always goes first."""
    order = ("chapterbot", "bare") if run % 2 == 0 else ("bare", "chapterbot")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        return await Bench(args, Path(tmp), order).run()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child == "chapterbot":
        run_chapterbot_child()
        return
    if args.child == "bare":
        run_bare_child()
        return
    started = time.perf_counter()
    runs = []
    for run in range(args.runs):
        print(f"run {run + 1} of {args.runs}", flush=True)
        runs.append(asyncio.run(bench(args, run)))
    print()
    print(combined_table(runs))
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
