"""Realistic raw events for a handful of demo profiles (also used by tests and the benchmark)."""
from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timezone
from typing import Any

__all__ = ["DemoWorld"]

FIRST = ["Anna", "Bram", "Chloé", "Daan", "Eva", "Finn", "Greta", "Hugo", "Ilse", "Jens"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
]


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DemoWorld:
    """Profiles, mailings with tags and links, and events about them. Deterministic per seed."""

    def __init__(self, profiles: int = 20, database: str = "newsletter", seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.database = database
        self.profiles = [self._profile(i) for i in range(profiles)]
        self.mailings = [self._mailing(i) for i in range(3)]

    def _profile(self, i: int) -> dict[str, Any]:
        first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
        email = f"{first.lower().replace('é', 'e')}.{last.lower().replace(' ', '')}{i}@example.org"
        return {
            "id": f"p{i}", "database": self.database, "email": email,
            "fields": {"email": email, "firstname": first, "lastname": last,
                       "city": self.rng.choice(["Amsterdam", "Utrecht", "Gent", "Köln"]),
                       "newsletter": "yes"},
            "interests": self.rng.sample(["golf", "tennis", "cycling", "cooking"], 2),
        }

    def _mailing(self, i: int) -> dict[str, Any]:
        links = {f"l{i}{j}": {"url": f"https://shop.example.com/item/{i}{j}",
                              "tags": [f"product-{i}{j}"]} for j in range(3)}
        return {"id": f"m{i}", "tags": ["newsletter", f"campaign-{i}"], "links": links}

    def event(self, etype: str | None = None) -> dict[str, Any]:
        """One open or click (or ``etype``) for a random profile and mailing."""
        etype = etype or self.rng.choice(["open", "open", "open", "click"])
        profile = self.rng.choice(self.profiles)
        mailing = self.rng.choice(self.mailings)
        now = time.time()
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()), "type": etype, "occurred_at": rfc3339(now),
            "database": self.database, "profile": profile["id"],
            "recipient": profile["email"], "mailing": mailing["id"],
            "message": f"<{mailing['id']}.{profile['id']}@mail.example.com>",
        }
        if etype in ("open", "click"):
            ip = f"198.51.100.{self.rng.randrange(1, 255)}"
            ua = self.rng.choice(AGENTS)
            event.update(ip=ip, useragent=ua, referer="",
                         headers={"User-Agent": ua, "Accept-Language": "nl-NL,nl;q=0.9"})
        if etype == "click":
            link_id, link = self.rng.choice(list(mailing["links"].items()))
            event.update(link=link_id, url=link["url"])
        return event
