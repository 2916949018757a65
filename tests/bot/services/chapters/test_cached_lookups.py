"""The hot chapter lookups answer from cached rows: every write shows at once, and the criteria
are judged at the clock's current time even when nothing was written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FakeClock
from bot.services.chapter_settings import ChapterSettingsService
from bot.services.chapters import ChapterDetails, ChapterService
from bot.services.places import Gazetteer
from db.models import ChapterMeeting
from db.session import Sessions

GUILD = 1000


@pytest.fixture
def service(sessions: Sessions, clock: FakeClock, gazetteer: Gazetteer) -> ChapterService:
    return ChapterService(sessions, clock, gazetteer)


async def test_joins_leaves_and_new_chapters_show_at_once(service: ChapterService) -> None:
    chicago = await service.propose(GUILD, 1, "Chicago")
    assert [c.name for c in await service.search(GUILD, "")] == ["Chicago Chapter"]
    assert (await service.details(GUILD, chicago.id)).chapter.member_count == 1
    await service.join(GUILD, chicago.id, 2)
    assert (await service.resolve(GUILD, "Chicago")).member_count == 2
    assert [m.user_id for m in (await service.details(GUILD, chicago.id)).members] == [1, 2]
    boston = await service.propose(GUILD, 3, "Boston, MA, US")
    listed = [c.name for c in await service.list_chapters(GUILD)]
    assert listed == ["Chicago Chapter", "Boston Chapter"]  # by region: IL before MA
    await service.leave(GUILD, chicago.id, 2)
    assert (await service.get(GUILD, chicago.id)).member_count == 1
    assert (await service.search(GUILD, "bos"))[0].id == boston.id


async def test_criteria_follow_the_clock_without_any_write(
    service: ChapterService, sessions: Sessions, clock: FakeClock
) -> None:
    await ChapterSettingsService(sessions, clock).update(GUILD, meeting_months=1)
    chapter = await service.propose(GUILD, 1, "Chicago")
    async with sessions.write() as session:
        session.add(ChapterMeeting(chapter_id=chapter.id, held_at=clock.now(), attendee_count=4))

    def meetings_met(details: ChapterDetails) -> bool:
        return next(r.met for r in details.criteria.results if r.key == "meetings")

    assert meetings_met(await service.details(GUILD, chapter.id))
    clock.advance(timedelta(days=40))  # the meeting is now older than a month
    assert not meetings_met(await service.details(GUILD, chapter.id))
