"""Persistent ballot components: the vote's id (and a ranking so far) live in the custom_id, so
every button and select keeps working after a restart."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.interactions import ErrorHandlingItem, ErrorHandlingView, handle_interaction_error

if TYPE_CHECKING:
    from bot.client import ChapterBot

COG_NAME = "Votes"
CONSENT_STYLES = (
    ("Agree", discord.ButtonStyle.success, "👍"),
    ("Abstain", discord.ButtonStyle.secondary, "🤐"),
    ("Disagree", discord.ButtonStyle.primary, "👎"),
    ("Block", discord.ButtonStyle.danger, "✋"),
)


class BallotHandler(Protocol):
    async def open_ballot(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int
    ) -> None: ...

    async def pick(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, values: list[str]
    ) -> None: ...

    async def rank(
        self,
        interaction: discord.Interaction[ChapterBot],
        vote_id: int,
        picked: list[int],
        *,
        done: bool,
    ) -> None: ...

    async def consent(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, choice: int
    ) -> None: ...

    async def accept_nomination(
        self, interaction: discord.Interaction[ChapterBot], vote_id: int, user_id: int
    ) -> None: ...


def _handler(interaction: discord.Interaction[ChapterBot]) -> BallotHandler:
    handler: BallotHandler | None = interaction.client.get_cog(COG_NAME)  # type: ignore[assignment]
    if handler is None:
        raise RuntimeError("the votes cog is not loaded")
    return handler


def encode_ranking(picked: list[int]) -> str:
    return ".".join(str(option) for option in picked)


def decode_ranking(text: str) -> list[int]:
    return [int(part) for part in text.split(".") if part]


class BallotButton(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"vote:ballot:(?P<vote>[0-9]{1,20})",
):
    def __init__(self, vote_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Vote",
                style=discord.ButtonStyle.primary,
                custom_id=f"vote:ballot:{vote_id}",
                emoji="🗳️",
            )
        )
        self.vote_id = vote_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> BallotButton:
        return cls(int(match["vote"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        await _handler(interaction).open_ballot(interaction, self.vote_id)


class PickSelect(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=r"vote:pick:(?P<vote>[0-9]{1,20})",
):
    """The private ballot of a secret single or approval vote."""

    def __init__(
        self, vote_id: int, options: tuple[str, ...] = (), *, multiple: bool = False
    ) -> None:
        choices = [
            discord.SelectOption(label=label[:100], value=str(i)) for i, label in enumerate(options)
        ] or [discord.SelectOption(label="-", value="0")]
        super().__init__(
            discord.ui.Select(
                custom_id=f"vote:pick:{vote_id}",
                placeholder="Approve one or more options" if multiple else "Pick one option",
                min_values=1,
                max_values=len(choices) if multiple else 1,
                options=choices[:25],
            )
        )
        self.vote_id = vote_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> PickSelect:
        return cls(int(match["vote"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        await _handler(interaction).pick(interaction, self.vote_id, list(self.item.values))


class RankSelect(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Select[discord.ui.View]],
    template=r"vote:rank:(?P<vote>[0-9]{1,20}):(?P<picked>[0-9.]*)",
):
    """Pick the next preference; the ranking so far rides along in the custom_id."""

    def __init__(self, vote_id: int, picked: list[int], options: tuple[str, ...] = ()) -> None:
        remaining = [
            discord.SelectOption(label=label[:100], value=str(i))
            for i, label in enumerate(options)
            if i not in picked
        ] or [discord.SelectOption(label="-", value="0")]
        super().__init__(
            discord.ui.Select(
                custom_id=f"vote:rank:{vote_id}:{encode_ranking(picked)}",
                placeholder=f"Your choice number {len(picked) + 1}",
                options=remaining[:25],
            )
        )
        self.vote_id = vote_id
        self.picked = picked

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RankSelect:
        return cls(int(match["vote"]), decode_ranking(match["picked"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        picked = [*self.picked, int(self.item.values[0])]
        await _handler(interaction).rank(interaction, self.vote_id, picked, done=False)


class RankDone(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"vote:rankdone:(?P<vote>[0-9]{1,20}):(?P<picked>[0-9.]*)",
):
    def __init__(self, vote_id: int, picked: list[int]) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cast this ranking",
                style=discord.ButtonStyle.success,
                custom_id=f"vote:rankdone:{vote_id}:{encode_ranking(picked)}",
                disabled=not picked,
            )
        )
        self.vote_id = vote_id
        self.picked = picked

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RankDone:
        return cls(int(match["vote"]), decode_ranking(match["picked"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        await _handler(interaction).rank(interaction, self.vote_id, self.picked, done=True)


class ConsentButton(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"vote:consent:(?P<vote>[0-9]{1,20}):(?P<choice>[0-3])",
):
    def __init__(self, vote_id: int, choice: int) -> None:
        label, style, emoji = CONSENT_STYLES[choice]
        super().__init__(
            discord.ui.Button(
                label=label, style=style, emoji=emoji, custom_id=f"vote:consent:{vote_id}:{choice}"
            )
        )
        self.vote_id = vote_id
        self.choice = choice

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ConsentButton:
        return cls(int(match["vote"]), int(match["choice"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        await _handler(interaction).consent(interaction, self.vote_id, self.choice)


class AcceptButton(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"vote:accept:(?P<vote>[0-9]{1,20}):(?P<user>[0-9]{1,20})",
):
    def __init__(self, vote_id: int, user_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Accept the nomination",
                style=discord.ButtonStyle.success,
                custom_id=f"vote:accept:{vote_id}:{user_id}",
            )
        )
        self.vote_id = vote_id
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> AcceptButton:
        return cls(int(match["vote"]), int(match["user"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        await _handler(interaction).accept_nomination(interaction, self.vote_id, self.user_id)


class ContingencyStart(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"vote:contingency-start",
):
    """The button under a marker alert (posted by the markers cog with this custom_id)."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                label="Start a contingency vote",
                style=discord.ButtonStyle.primary,
                custom_id="vote:contingency-start",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ContingencyStart:
        return cls()

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        handler: Any = _handler(interaction)
        await handler.start_contingency_from_alert(interaction)


DYNAMIC_ITEMS = (
    BallotButton,
    PickSelect,
    RankSelect,
    RankDone,
    ConsentButton,
    AcceptButton,
    ContingencyStart,
)


def ballot_view(vote_id: int, *, consent: bool) -> ErrorHandlingView:
    view = ErrorHandlingView(timeout=None)
    if consent:
        for choice in range(4):
            view.add_item(ConsentButton(vote_id, choice))
    else:
        view.add_item(BallotButton(vote_id))
    return view


def pick_view(vote_id: int, options: tuple[str, ...], *, multiple: bool) -> ErrorHandlingView:
    view = ErrorHandlingView(timeout=None)
    view.add_item(PickSelect(vote_id, options, multiple=multiple))
    return view


def rank_view(vote_id: int, options: tuple[str, ...], picked: list[int]) -> ErrorHandlingView:
    view = ErrorHandlingView(timeout=None)
    if len(picked) < len(options):
        view.add_item(RankSelect(vote_id, picked, options))
    view.add_item(RankDone(vote_id, picked))
    return view


def accept_view(vote_id: int, user_id: int) -> ErrorHandlingView:
    view = ErrorHandlingView(timeout=None)
    view.add_item(AcceptButton(vote_id, user_id))
    return view


class BlockReason(discord.ui.Modal, title="Block the proposal"):
    reason: discord.ui.TextInput[BlockReason] = discord.ui.TextInput(
        label="Why? What would have to change?",
        style=discord.TextStyle.paragraph,
        max_length=500,
    )

    def __init__(self, vote_id: int) -> None:
        super().__init__(custom_id=f"vote:block:{vote_id}")
        self.vote_id = vote_id

    async def on_submit(self, interaction: discord.Interaction[ChapterBot]) -> None:  # type: ignore[override]
        handler: Any = _handler(interaction)
        await handler.block(interaction, self.vote_id, self.reason.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await handle_interaction_error(interaction, error)


class ContingencyForm(discord.ui.Modal, title="Contingency vote"):
    """The template, editable before it is posted."""

    vote_title: discord.ui.TextInput[ContingencyForm] = discord.ui.TextInput(
        label="Title", max_length=200, custom_id="title"
    )
    description: discord.ui.TextInput[ContingencyForm] = discord.ui.TextInput(
        label="Description",
        style=discord.TextStyle.paragraph,
        max_length=1500,
        required=False,
        custom_id="description",
    )
    options: discord.ui.TextInput[ContingencyForm] = discord.ui.TextInput(
        label="Options, one per line",
        style=discord.TextStyle.paragraph,
        max_length=1700,
        custom_id="options",
    )

    def __init__(self, title: str, description: str, options: tuple[str, ...], closes: str) -> None:
        super().__init__(custom_id="vote:contingency")
        self.vote_title.default = title
        self.description.default = description[:1500]
        self.options.default = "\n".join(options)
        self.closes = closes

    async def on_submit(self, interaction: discord.Interaction[ChapterBot]) -> None:  # type: ignore[override]
        handler: Any = _handler(interaction)
        options = [line.strip() for line in self.options.value.splitlines() if line.strip()]
        await handler.create_contingency(
            interaction, self.vote_title.value, self.description.value, options, self.closes
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:  # type: ignore[override]
        await handle_interaction_error(interaction, error)
