"""Property-based fuzz of every registered command, end to end against the twin.

The commands are discovered from the bot's own command tree (subcommands and groups too), so a
new command is fuzzed without touching this file. Each hypothesis example runs every command
once, as a member or an organizer (with the server's command permissions opened to everyone),
with adversarial option values: long, empty, whitespace, control and bidirectional characters,
mentions, markdown, 20-digit numbers, ids from another guild; then presses one button or select
of the answer, if it has any. For every interaction:

- it is answered (within Discord's 3 s);
- a refusal (an error the bot turned into an answer) is private;
- every message, embed, component and autocomplete answer is within Discord's limits;
- nothing is logged at ERROR or with a traceback;
- the twin's OpenAPI check rejects no request, and no request fails with 400;
- nothing pings (``allowed_mentions`` parses nothing and lists nobody).

``FUZZ_EXAMPLES`` sets the number of examples (default: a quick run for ``scripts/test``);
``FUZZ_EXAMPLES=200 .venv/bin/pytest tests/e2e/test_fuzz.py`` is the long run (see README).
A quick run is derandomized so CI is stable; a long run draws new values each time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from discord import app_commands
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot import limits
from tests.e2e.conftest import World
from twin import TwinInteraction

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
EPHEMERAL = 1 << 6
DEFERRED = 5
MODAL = 9
DISCORD_INT_MAX = 2**53  # Discord's bound for integer options

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
# option types (Discord's numbering)
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = range(3, 11)

ADVERSARIAL_TEXT = [
    "",
    " ",
    " \t\n ",
    "<@123>",
    "@everyone",
    "@here",
    "<@&1>",
    "<#1>",
    "@everyone <@&1> <@123> @here",
    "**bold** __under__ ~~strike~~ `code` ||spoiler|| > quote [link](https://x.test)",
    "_*" * 50,
    "```\ncode block",
    "99999999999999999999",
    "18446744073709551616",
    "-1",
    "0",
    "#1",
    "3",
    "²",
    "#¹²",
    "٣",
    "1e3",
    "Chapter \u2067retsinimda\u2069 official",
    "\u202eevil\u202c \u200b\u200c\u200d\ufeff",
    "nul\x00byte\x00",
    "\x01\x02\x1b[31mred\x7f\x85",
    "\r\n\u2028\u2029",
    "🏳️‍🌈 👨\u200d👩\u200d👧 ﷽",
    "Ｃｈｉｃａｇｏ",
    "Chicago",
    "Chicago, IL, US",
    "Oakland",
    "Chicago Chapter",
    "US-CA, US-OR, DE",
    "facilitator",
    "none",
    "2099-01-01",
    "2000-02-30",
    "America/Chicago",
    "Mars/Olympus",
    "https://example.org",
    "javascript:alert(1)",
]


@dataclass(frozen=True)
class Leaf:
    """One invocable slash command: ``/name [group] [subcommand]`` and its option specs."""

    name: str
    group: str | None
    subcommand: str | None
    options: tuple[dict[str, Any], ...]
    in_dms: bool = False  #: usable in the user's DM with the bot (and no guild-only option)

    @property
    def label(self) -> str:
        return " ".join(p for p in ("/" + self.name, self.group, self.subcommand) if p)


def leaf_commands(tree: app_commands.CommandTree[Any]) -> list[Leaf]:
    """Every slash command the bot registers, walked from its tree (groups and subcommands)."""
    leaves = []
    for command in tree.walk_commands():
        if not isinstance(command, app_commands.Command):
            continue
        path = [command.name]
        parent = command.parent
        while parent is not None:
            path.insert(0, parent.name)
            parent = parent.parent
        spec = command.to_dict(tree)
        options = tuple(o for o in spec.get("options", []) if o["type"] > SUB_COMMAND_GROUP)
        name, *rest = path
        group = rest[0] if len(rest) == 2 else None
        subcommand = rest[-1] if rest else None
        root = tree.get_command(name)
        assert root is not None
        root_spec = root.to_dict(tree)
        in_dms = (
            root_spec.get("dm_permission", True) is not False
            and 1 in (root_spec.get("contexts") or [0, 1])
            and not any(o["type"] in (CHANNEL, ROLE, MENTIONABLE) for o in options)
        )
        leaves.append(Leaf(name, group, subcommand, options, in_dms))
    return sorted(leaves, key=lambda leaf: leaf.label)


@dataclass
class Targets:
    """Ids the fuzz may pass: this guild's and another guild's."""

    users: list[int]
    roles: list[int]
    channels: dict[int, int]  # id -> channel type
    texts: list[str] = field(default_factory=list)


def text_values(spec: dict[str, Any], targets: Targets) -> st.SearchStrategy[str]:
    low = int(spec.get("min_length", 0))
    high = int(spec.get("max_length", 6000))
    pool = ADVERSARIAL_TEXT + targets.texts
    raw = st.one_of(
        st.sampled_from(pool),
        st.sampled_from(pool),  # twice: the known-nasty values matter most
        st.text(max_size=high),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=high, max_size=high),
        st.builds(lambda s: (s * high)[:high], st.sampled_from(pool[1:])),
        st.lists(st.sampled_from(pool), min_size=1, max_size=20).map(" ".join),
    )

    def fit(text: str) -> str:
        text = text[:high]
        return text + "x" * (low - len(text))

    return raw.map(fit)


def option_values(spec: dict[str, Any], targets: Targets) -> st.SearchStrategy[Any]:
    kind = spec["type"]
    if spec.get("choices"):
        return st.sampled_from([c["value"] for c in spec["choices"]])
    if kind == STRING:
        return text_values(spec, targets)
    if kind in (INTEGER, NUMBER):
        low = spec.get("min_value", -DISCORD_INT_MAX)
        high = spec.get("max_value", DISCORD_INT_MAX)
        if kind == NUMBER:
            return st.floats(low, high, allow_nan=False, allow_infinity=False)
        return st.one_of(st.sampled_from([low, high]), st.integers(low, high))
    if kind == BOOLEAN:
        return st.booleans()
    if kind == USER:
        return st.sampled_from(targets.users)
    if kind == ROLE:
        return st.sampled_from(targets.roles)
    if kind == MENTIONABLE:
        return st.sampled_from(targets.users + targets.roles)
    if kind == CHANNEL:
        allowed = spec.get("channel_types")
        fitting = [c for c, t in targets.channels.items() if not allowed or t in allowed]
        return st.sampled_from(fitting) if fitting else st.nothing()
    raise AssertionError(f"no fuzz values for option type {kind} ({spec['name']})")


@st.composite
def invocations(draw: st.DrawFn, leaf: Leaf, targets: Targets) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for spec in leaf.options:
        if spec.get("required") or draw(st.booleans()):
            chosen[spec["name"]] = draw(option_values(spec, targets))
    return chosen


class ErrorRecords(logging.Handler):
    """Log records at ERROR, or with a traceback, while the fuzz runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def text(self) -> str:
        return "\n".join(
            f"{r.levelname} {r.name}: {r.getMessage()}\n{self.format(r) if r.exc_info else ''}"
            for r in self.records
        )


def within_limits(message: dict[str, Any]) -> Iterator[str]:
    """Every way ``message`` breaks one of Discord's limits."""
    if len(message.get("content") or "") > limits.CONTENT_MAX:
        yield f"content of {len(message['content'])} characters"
    embeds = message.get("embeds") or []
    total = 0
    for embed in embeds:
        for key, limit in (("title", limits.EMBED_TITLE_MAX), ("description", 4096)):
            total += len(embed.get(key) or "")
            if len(embed.get(key) or "") > limit:
                yield f"embed {key} of {len(embed[key])} characters"
        footer = (embed.get("footer") or {}).get("text") or ""
        total += len(footer)
        if len(footer) > limits.EMBED_FOOTER_MAX:
            yield f"footer of {len(footer)} characters"
        fields = embed.get("fields") or []
        if len(fields) > limits.EMBED_FIELDS_MAX:
            yield f"{len(fields)} fields"
        for item in fields:
            total += len(item.get("name") or "") + len(item.get("value") or "")
            if len(item.get("name") or "") > limits.EMBED_FIELD_NAME_MAX:
                yield "field name too long"
            if len(item.get("value") or "") > limits.EMBED_FIELD_VALUE_MAX:
                yield f"field value of {len(item['value'])} characters"
    if total > limits.EMBEDS_TOTAL_MAX:
        yield f"embeds of {total} characters in all"
    rows = message.get("components") or []
    if len(rows) > 5:
        yield f"{len(rows)} action rows"
    for row in rows:
        for item in row.get("components", []):
            if len(item.get("custom_id") or "") > limits.CUSTOM_ID_MAX:
                yield "custom_id too long"
            if len(item.get("options") or []) > limits.SELECT_OPTIONS_MAX:
                yield f"select with {len(item['options'])} options"


def message_bodies(bodies: list[Any]) -> Iterator[dict[str, Any]]:
    for body in bodies:
        if not isinstance(body, dict):
            continue
        if isinstance(body.get("data"), dict) and "type" in body:  # an interaction callback
            body = body["data"]
        if "content" in body or "embeds" in body:
            yield body


async def answer_of(ix: TwinInteraction) -> dict[str, Any] | None:
    """The message that finally answers ``ix`` (None for a modal)."""
    body = await ix.response(timeout=3)
    if body["type"] == MODAL:
        return None
    if body["type"] == DEFERRED:
        await ix.wait_followup(timeout=5)
        return ix.followups[-1]
    return ix.followups[-1] if ix.followups else ix.original


async def build_targets(world: World) -> Targets:
    """Members, roles and channels here; a second guild with a chapter of its own."""
    twin = world.twin
    member = await world.join("fuzz-member")
    other = twin.create_guild("Other Guild")
    stranger = twin.create_user("stranger")
    await twin.member_join(other.id, stranger)
    foreign = await world.services.chapters.propose(other.id, stranger, "Boston, MA, US")
    home = await world.services.chapters.propose(world.guild_id, member, "Chicago")
    guild = world.guild
    category = guild.add_category("Chapters")
    extra_role = guild.add_role("Volunteers")
    channels = {cid: ch.type for cid, ch in twin.world.channels.items() if ch.guild_id == guild.id}
    return Targets(
        users=[member, world.organizer_id, stranger, twin.bot_user_id],
        roles=[guild.everyone_role_id, guild.bot_role_id, world.organizer_role_id, extra_role],
        channels={**channels, category: 4},
        texts=[
            str(home.id),
            str(foreign.id),
            foreign.name,
            str(other.id),
            str(other.everyone_role_id),
            f"<@{stranger}>",
            f"<@&{other.everyone_role_id}>",
            f"<#{other.system_channel_id}>",
        ],
    )


@dataclass
class Fuzz:
    """What every example of one test run shares (the world lives for the whole run)."""

    targets: Targets
    leaves: list[Leaf]
    refused: set[int]
    errors: ErrorRecords


_RUNS: dict[int, Fuzz] = {}


async def fuzz_for(world: World) -> Fuzz:
    """Set up once per world: targets, the commands, and recorders for refusals and errors."""
    if id(world) in _RUNS:
        return _RUNS[id(world)]
    targets = await build_targets(world)
    leaves = leaf_commands(world.bot.tree)
    assert len(leaves) >= 30, [leaf.label for leaf in leaves]  # discovery found the commands
    refused: set[int] = set()
    tree = world.bot.tree
    original_on_error = tree.on_error

    async def recording_on_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        refused.add(interaction.id)
        await original_on_error(interaction, error)

    tree.on_error = recording_on_error  # type: ignore[method-assign]
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    _RUNS.clear()
    _RUNS[id(world)] = Fuzz(targets, leaves, refused, errors)
    return _RUNS[id(world)]


@pytest.fixture
def fuzz_cleanup() -> Iterator[None]:
    yield
    for run in _RUNS.values():
        logging.getLogger().removeHandler(run.errors)
    _RUNS.clear()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
    # the world keeps its state between examples, so a replay is not the same run: report the
    # first failure as it happened instead of shrinking it
    phases=[Phase.explicit, Phase.generate],
    print_blob=False,
)
@pytest.mark.timeout(60 + 30 * EXAMPLES)
@given(data=st.data())
async def test_every_command_survives_adversarial_options(
    fuzz_cleanup: None, world: World, data: st.DataObject
) -> None:
    fuzz = await fuzz_for(world)
    actors = [fuzz.targets.users[0], world.organizer_id]
    for leaf in fuzz.leaves:
        actor = data.draw(st.sampled_from(actors), label=f"{leaf.label} actor")
        options = data.draw(invocations(leaf, fuzz.targets), label=f"{leaf.label} options")
        in_dm = leaf.in_dms and data.draw(st.booleans(), label=f"{leaf.label} in a DM")
        answers = await exercise(
            world, leaf, actor, options, fuzz.refused, fuzz.errors, in_dm=in_dm
        )
        components = pressable(answers)
        if components:  # buttons and selects on the answer: press one, as anyone
            message, component = data.draw(st.sampled_from(components), label="component")
            private = int(message.get("flags") or 0) & EPHEMERAL
            presser = actor if private else data.draw(st.sampled_from(actors), label="presser")
            await press(world, message, component, presser, fuzz.targets, data, fuzz.errors)


async def exercise(
    world: World,
    leaf: Leaf,
    actor: int,
    options: dict[str, Any],
    refused: set[int],
    errors: ErrorRecords,
    *,
    in_dm: bool = False,
) -> list[dict[str, Any]]:
    """Run ``leaf`` (after its autocompletes) and check everything it caused; returns the
    messages that answered it."""
    twin = world.twin
    seen = len(twin.requests)
    where = f"{leaf.label} as {actor}{' in a DM' if in_dm else ''} with {options!r}"
    guild_id, channel_id = (None, None) if in_dm else (world.guild_id, world.channel_id)
    for spec in leaf.options:
        if spec.get("autocomplete") and not in_dm:
            choices = await twin.autocomplete(  # as an organizer: the twin checks permissions
                world.guild_id, world.channel_id, world.organizer_id, leaf.name,
                leaf.subcommand, leaf.group, options, focused=spec["name"],
            )  # fmt: skip
            assert len(choices) <= limits.CHOICES_MAX, where
            assert all(len(c["name"]) <= limits.CHOICE_NAME_MAX for c in choices), where
    ix = await twin.slash(
        guild_id,
        channel_id,
        actor,
        leaf.name,
        subcommand=leaf.subcommand,
        group=leaf.group,
        options=options,
        check_permissions=False,  # as if admins opened every command to everyone
    )
    final = await answer_of(ix)
    if ix.id in refused and final is not None:
        assert int(final.get("flags") or 0) & EPHEMERAL, f"public refusal: {where}: {final}"
    check_requests(world, seen, where, errors)
    return [m for m in (ix.original, *ix.followups) if m is not None]


def pressable(messages: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(message, component) for every enabled button or select with a custom_id."""
    found = []
    for message in messages:
        for row in message.get("components") or []:
            for item in row.get("components") or []:
                if item.get("custom_id") and not item.get("disabled"):
                    found.append((message, item))
    return found


async def press(
    world: World,
    message: dict[str, Any],
    component: dict[str, Any],
    actor: int,
    targets: Targets,
    data: st.DataObject,
    errors: ErrorRecords,
) -> None:
    """Press a button or choose in a select the bot sent, and check what that caused."""
    twin = world.twin
    seen = len(twin.requests)
    values: list[Any] | None = None
    if component["type"] == 3:  # string select: one of its options
        values = [data.draw(st.sampled_from([o["value"] for o in component["options"]]))]
    elif component["type"] in (5, 6, 7, 8):  # user, role, mentionable, channel selects
        pool = {5: targets.users[:2], 6: targets.roles, 7: targets.users[:2] + targets.roles}
        values = [data.draw(st.sampled_from(pool.get(component["type"], list(targets.channels))))]
    where = f"pressing {component['custom_id']!r} as {actor} (values {values})"
    ix = await twin.click(message["id"], component["custom_id"], actor, values=values)
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        await ix.wait_followup(timeout=5)
    check_requests(world, seen, where, errors)


def check_requests(world: World, seen: int, where: str, errors: ErrorRecords) -> None:
    """What the bot sent since request ``seen``: within limits, pinging nobody, valid."""
    twin = world.twin
    new = twin.requests[seen:]
    for body in message_bodies([r.body for r in new]):
        broken = list(within_limits(body))
        assert not broken, f"{where}: {broken}"
        mentions = body.get("allowed_mentions")
        assert mentions is not None and mentions.get("parse") == [], f"{where} may ping: {body}"
        assert not mentions.get("users") and not mentions.get("roles"), f"{where}: {body}"
    assert not twin.spec_violations, f"{where}: {twin.spec_violations}"
    assert not twin.unimplemented, f"{where}: {twin.unimplemented}"
    bad = [r for r in new if r.status == 400]
    assert not bad, f"{where}: {bad}"
    assert not errors.records, f"{where} logged:\n{errors.text()}"
