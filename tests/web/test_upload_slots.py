"""A web process's upload slots are shared between teams: one owner holds at most a quarter of them, and its
further uploads wait for its own, so another team's upload always finds a slot."""

from __future__ import annotations

import asyncio

from irs.settings import Settings
from webapp.feed import ResultFeed
from webapp.monitor import Monitor
from webapp.security import Authenticator
from webapp.services import Services


def test_one_owner_holds_at_most_a_quarter_of_the_upload_slots_and_another_owner_has_its_own() -> None:
    settings = Settings(web_max_uploads=8)
    services = Services(settings, ResultFeed(), Monitor(), Authenticator(settings))

    async def hold() -> tuple[bool, bool, bool]:
        ann = services.owner_uploading("ann")
        await ann.acquire()
        first = ann.locked()
        await ann.acquire()
        return first, ann.locked(), services.owner_uploading("bob").locked()

    assert asyncio.run(hold()) == (False, True, False)
    assert services.owner_uploading("ann") is services.owner_uploading("ann")
