"""``python -m bot`` with one extra, test-only timer listener: ``announce`` posts the payload's
text in the payload's channel (once: the nonce makes a resend after a crash a no-op).

The restart test needs a timer whose effect it can see from outside the process; the bot itself
has no such listener, so the test brings its own.
"""

from __future__ import annotations

from bot import __main__ as entry
from bot.client import ChapterBot
from bot.services.timers import TimerRecord

_setup_hook = ChapterBot.setup_hook


async def setup_hook_with_announce(self: ChapterBot) -> None:
    async def on_announce_timer_complete(timer: TimerRecord) -> None:
        channel = self.get_partial_messageable(int(timer.payload["channel_id"]))
        await channel.send(str(timer.payload["content"])[:2000], nonce=f"timer-{timer.id}")

    self.add_listener(on_announce_timer_complete)
    await _setup_hook(self)


if __name__ == "__main__":
    ChapterBot.setup_hook = setup_hook_with_announce  # type: ignore[method-assign]
    entry.main()
