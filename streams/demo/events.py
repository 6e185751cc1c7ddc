"""Realistic raw events for demo profiles; shared by the demo, the tests and the benchmark.

Deterministic per seed. Profiles spread over ``databases``; every mailing has tags and links
with their own tags. ``event(type)`` returns a raw event that matches ``schemas/``;
``malformed(i)`` returns bytes that do not, each for a different reason.
"""
from __future__ import annotations

import email.utils
import random
import time
import uuid
from datetime import datetime, timezone
from typing import Any

__all__ = ["DemoWorld", "EVENT_TYPES", "complaint_report", "topic_key"]

FIRST = ["Anna", "Bram", "Chloé", "Daan", "Eva", "Finn", "Greta", "Hugo", "Ilse", "Jens"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos"]
CITIES = ["Amsterdam", "Utrecht", "Gent", "Köln", "Brussel"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
]
EVENT_TYPES = ("open", "click", "bounce", "failure", "delivery", "update", "unsubscribe",
               "complaint")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def topic_key(event: dict[str, Any]) -> str:
    """Which raw topic family (``streams.kafka.topics.RAW_TOPICS`` key) an event belongs on."""
    return "profile" if event["type"] in ("create", "update", "delete") else event["type"]


class DemoWorld:
    """Profiles, mailings with tags and links, and events about them."""

    def __init__(self, profiles: int = 20, databases: tuple[str, ...] = ("newsletter",),
                 mailings: int = 3, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.databases = databases
        self.profiles = [self._profile(i) for i in range(profiles)]
        self.by_id = {p["id"]: p for p in self.profiles}
        self.mailings = [self._mailing(i) for i in range(mailings)]

    def _profile(self, i: int) -> dict[str, Any]:
        first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
        email = f"{first.lower().replace('é', 'e')}.{last.lower().replace(' ', '')}{i}@example.org"
        created = rfc3339(time.time() - 86400 * 30)
        return {
            "id": f"p{i}", "database": self.databases[i % len(self.databases)], "email": email,
            "fields": {"email": email, "firstname": first, "lastname": last,
                       "city": self.rng.choice(CITIES), "newsletter": "yes"},
            "interests": self.rng.sample(["golf", "tennis", "cycling", "cooking"], 2),
            "created": created, "modified": created,
        }

    def _mailing(self, i: int) -> dict[str, Any]:
        links = {f"l{i}-{j}": {"url": f"https://shop.example.com/item/{i}/{j}",
                               "tags": [f"product-{i}-{j}"]} for j in range(3)}
        return {"id": f"m{i}", "tags": ["newsletter", f"campaign-{i}"], "links": links}

    def event(self, etype: str | None = None, profile: dict[str, Any] | None = None) -> dict[str, Any]:
        """One raw event of ``etype`` (default: mostly opens and clicks)."""
        rng = self.rng
        etype = etype or rng.choice(["open"] * 6 + ["click"] * 3 + ["update"])
        profile = profile or rng.choice(self.profiles)
        mailing = rng.choice(self.mailings)
        now = time.time()
        event: dict[str, Any] = {
            "id": str(uuid.uuid4()), "type": etype, "occurred_at": rfc3339(now),
            "database": profile["database"], "profile": profile["id"],
        }
        if etype in ("create", "update", "delete"):
            if etype == "update":
                city = rng.choice(CITIES)
                profile["fields"]["city"] = city
                event.update(fields={"city": city}, modified=rfc3339(now))
            elif etype == "create":
                event.update(fields=dict(profile["fields"]), created=rfc3339(now))
            return event
        event.update(recipient=profile["email"], mailing=mailing["id"],
                     message=f"<{mailing['id']}.{profile['id']}@mail.example.com>")
        if etype in ("open", "click"):
            ua = rng.choice(AGENTS)
            event.update(ip=f"198.51.100.{rng.randrange(1, 255)}", useragent=ua, referer="",
                         headers={"User-Agent": ua, "Accept-Language": "nl-NL,nl;q=0.9"})
        if etype == "click":
            link_id, link = rng.choice(list(mailing["links"].items()))
            event.update(link=link_id, url=link["url"])
        elif etype == "bounce":
            event.update(envelope=f"bounce-{profile['id']}@bounces.example.com",
                         mime="Content-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n")
        elif etype in ("failure", "delivery"):
            ok = etype == "delivery"
            event.update(code=250 if ok else 550, extended="2.0.0" if ok else "5.1.1",
                         description="OK" if ok else "mailbox unavailable")
            if not ok:
                event.update(action="failed", state="permanent")
        elif etype == "unsubscribe":
            event.pop("message")
        elif etype == "complaint":
            event.update(feedback_type="abuse", reporter="fbl.example.net",
                         source_ip="203.0.113.9")
        return event

    def malformed(self, i: int) -> bytes:
        """Invalid input number ``i`` (cycles through distinct reasons)."""
        good = self.event("open")
        kind = i % 8
        if kind == 0:
            return b"{not json"
        if kind == 1:
            return b'{"id": "\xff\xfe"}'  # not UTF-8
        if kind == 2:
            return b"[1, 2, 3]"
        bad = dict(good)
        if kind == 3:
            bad["type"] = "opne"
        elif kind == 4:
            del bad["occurred_at"]
        elif kind == 5:
            bad["occurred_at"] = "yesterday"
        elif kind == 6:
            bad["ip"] = 12345
        else:
            bad["useragent"] = "x" * 100_000
        import orjson

        return orjson.dumps(bad)


def complaint_report(world: DemoWorld, profile: dict[str, Any], ref_secret: bytes) -> bytes:
    """An ARF spam complaint (RFC 5965) about the last demo mailing sent to ``profile``, as a
    mailbox provider would send it: recipient redacted, our X-FL-Ref header in the original."""
    from enrichers.esp import REF_HEADER, ProfileRef, make_ref

    mailing = world.mailings[0]["id"]
    ref = make_ref(ref_secret, ProfileRef(database=profile["database"], profile=profile["id"],
                                          mailing=mailing))
    message_id = f"{mailing}.{profile['id']}@mail.demo.example"
    return f"""From: Demo Mail Feedback <feedback@arf.demo.example>
To: fbl@bounces.demo.example
Subject: Complaint about message from news@demo.example
Date: {email.utils.formatdate(usegmt=True)}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="demo-arf"

--demo-arf
Content-Type: text/plain

A recipient marked this message as spam.

--demo-arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: DemoMail-FBL/1.0
Version: 1
Original-Rcpt-To: redacted@demo-mailbox.example
Arrival-Date: {email.utils.formatdate(usegmt=True)}
Source-IP: 192.0.2.10

--demo-arf
Content-Type: text/rfc822-headers

From: Demo News <news@demo.example>
To: redacted@demo-mailbox.example
Subject: This week's news
Message-ID: <{message_id}>
{REF_HEADER}: {ref}

--demo-arf--
""".replace("\n", "\r\n").encode()
