"""Hard or soft, and why: the bounce taxonomy and its rule table (data, overridable).

Every bounce gets a ``reason`` and a ``bounce_class``:

============================  =====  =====================================================
reason                        class  meaning
============================  =====  =====================================================
``user-unknown``              hard   the mailbox does not exist (5.1.1, "no such user")
``host-unknown``              hard   the domain does not exist or takes no mail (5.1.2)
``has-moved``                 hard   the mailbox moved, no forwarding address (5.1.6, 551)
``suspended``                 soft   the account is disabled or suspended (5.2.1): it exists
``mailbox-full``              soft   over quota (5.2.2, 4.2.2, 552)
``message-too-big``           soft   over the receiver's size limit (5.3.4, 5.2.3)
``filtered``                  soft   refused by the recipient's own filter or settings
``spam-blocked``              soft   refused by the receiver's spam filter or policy (x.7.x)
``blocked-by-reputation``     soft   the sending IP or domain is on a block list
``rate-limited``              soft   too much mail too fast (4.7.28, "too many")
``expired``                   soft   the sending MTA gave up retrying (4.4.7 with no cause)
``auth-failure``              soft   SPF, DKIM or DMARC failed (5.7.26, 5.7.23)
``content-rejected``          soft   virus, attachment type, content (x.6.x)
``on-hold``                   soft   deferred by the receiver: greylisting, held for review
``system-error``              soft   the receiving system failed (x.3.x, mail loop)
``network-error``             soft   no connection, time-out, TLS failure (4.4.1, 4.4.2)
``unknown``                   (*)    nothing says why
============================  =====  =====================================================

(*) ``unknown`` is ``soft`` for a delay or a 4.x.x status and ``unknown`` otherwise: a 5.x.x
status is not taken as hard by itself (5.2.2 is a full mailbox, most 5.7.x are policy blocks).
A delayed recipient (``Action: delayed``) is always ``soft``.

How a reason is found (``BounceRules.reason``), first answer wins:

1. the status, exactly (``statuses["5.1.1"]``), unless it is generic (``x.0.0``, ``x.4.7``);
2. the diagnostic text against ``patterns``, in order (case-insensitive regular expressions);
3. the status's class and subject (``statuses["5.1"]``);
4. the SMTP reply code (``codes[552]``).

The defaults below are the table; ``BounceRules.with_overrides`` puts an operator's entries in
front (YAML ``esp.bounce_rules``): their statuses and codes replace ours, their patterns are
tried before ours, their ``classes`` change a reason's class.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["BounceClass", "REASONS", "BounceRules", "DEFAULT_RULES"]

BounceClass = Literal["hard", "soft", "unknown"]

REASONS: Final[Mapping[str, BounceClass]] = {
    "user-unknown": "hard", "host-unknown": "hard", "has-moved": "hard", "suspended": "soft",
    "mailbox-full": "soft", "message-too-big": "soft", "filtered": "soft",
    "spam-blocked": "soft", "blocked-by-reputation": "soft", "rate-limited": "soft",
    "expired": "soft", "auth-failure": "soft", "content-rejected": "soft", "on-hold": "soft",
    "system-error": "soft", "network-error": "soft", "unknown": "unknown",
}
"""Every reason and its default class."""

_STATUSES: Final[Mapping[str, str]] = {
    # exact
    "5.1.1": "user-unknown", "5.1.10": "user-unknown", "5.1.3": "user-unknown",
    "4.1.1": "user-unknown", "5.1.2": "host-unknown", "4.1.2": "host-unknown",
    "5.4.4": "host-unknown", "5.1.6": "has-moved", "5.2.1": "suspended",
    "5.7.13": "suspended", "4.2.1": "rate-limited", "5.2.2": "mailbox-full",
    "4.2.2": "mailbox-full", "5.3.4": "message-too-big", "5.2.3": "message-too-big",
    "4.3.4": "message-too-big", "5.7.20": "auth-failure", "5.7.21": "auth-failure",
    "5.7.22": "auth-failure", "5.7.23": "auth-failure", "5.7.24": "auth-failure",
    "5.7.25": "auth-failure", "5.7.26": "auth-failure", "5.7.27": "auth-failure",
    "4.7.26": "auth-failure", "4.7.28": "rate-limited", "5.7.28": "rate-limited",
    "4.4.1": "network-error", "4.4.2": "network-error",
    "4.4.6": "system-error", "5.4.6": "system-error", "4.3.1": "system-error",
    "4.3.2": "system-error", "5.3.2": "system-error",
    # Office 365: the group or mailbox only takes mail from authenticated or listed senders
    "5.7.133": "filtered", "5.7.134": "filtered", "5.7.135": "filtered", "5.7.136": "filtered",
    # class.subject, when no pattern matched
    "5.1": "user-unknown", "4.3": "system-error", "5.3": "system-error",
    "4.4": "network-error", "5.4": "network-error", "5.5": "system-error",
    "4.5": "system-error", "5.6": "content-rejected", "4.6": "content-rejected",
    "5.7": "spam-blocked", "4.7": "spam-blocked",
}

_CODES: Final[Mapping[int, str]] = {
    551: "has-moved", 552: "mailbox-full", 553: "user-unknown", 452: "mailbox-full",
    421: "system-error", 451: "system-error",
}

# (reason, pattern): tried in this order; earlier entries are the more specific
_PATTERNS: Final[Sequence[tuple[str, str]]] = (
    ("auth-failure", r"\bdmarc\b|\bdkim\b|\bspf\b.{0,40}(fail|check|record|align|authori|"
                     r"permerror|softfail)|unauthenticated|not authenticated|"
                     r"authentication (check|fail)|fail(s|ed)? (sender )?authentication"),
    ("mailbox-full", r"mail ?box.{0,30}\bfull|over ?quota|quota (exceeded|full|reached)|"
                     r"exceed\w* .{0,30}(quota|storage allocation|mailbox size)|"
                     r"full mail ?box|(disk|mail|user) quota|not enough (storage|space)|"
                     r"out of (mailbox )?(storage|space)|insufficient (user )?(storage|space) "
                     r"(for|in) (the )?(user|mailbox)"),
    ("message-too-big", r"too (large|big)|size limit|exceeds? .{0,30}size|message size|"
                        r"maximum (allowed |message )?size|message length exceeds"),
    ("has-moved", r"has moved|moved (permanently|away)|no forwarding address|"
                  r"changed (his|her|their|the) (e-?mail )?address"),
    ("suspended", r"(account|mail ?box|user|address)\W.{0,30}\b(disabled|suspended|inactive|"
                  r"deactivated|de-activated|locked|closed|terminated|frozen)|"
                  r"\b(disabled|suspended|inactive|deactivated|closed) (account|mail ?box|user)"),
    ("network-error", r"not found, try again|temporary failure in name resolution|"
                      r"dns (lookup |query )?(timed out|timeout|servfail|temporary)"),
    ("host-unknown", r"host or domain name not found|(host|domain)( name)? not found|"
                     r"(domain|host)\W.{0,30}(does not exist|doesn't exist|unknown|not exist)|"
                     r"unknown (host|domain)|name service error|no (mx|mail exchanger)|"
                     r"nxdomain|unrout(e)?able|dns (error|failure)|"
                     r"no valid (mx|hosts?)|domain .{0,20}(invalid|not valid)|"
                     r"no such domain|could not be resolved|couldn't be resolved"),
    ("user-unknown", r"user unknown|unknown (user|recipient|local[ -]part|mail ?box|address|"
                     r"account|alias)|no such (user|recipient|mail ?box|address|account|person)|"
                     r"(user|recipient|mail ?box|address|account|e-?mail)\W.{0,40}"
                     r"(does not|doesn't|did not|do not) exist|not exist|nonexist|non-exist|"
                     r"invalid (recipient|mail ?box|address|user|account|e-?mail)|"
                     r"invalid .{0,20}user ?id|"
                     r"recipient (not found|unknown|invalid)|"
                     r"(user|mail ?box|recipient|address|account) (was )?not found|"
                     r"no mail ?box|recipientnotfound|recipnotfound|bad destination mail ?box|"
                     r"undeliverable address|address unknown|not our customer|"
                     r"user (is )?not (listed|local|here)|no account|"
                     r"(user|recipient|mail ?box) (is )?unknown|"
                     r"doesn't have an? .{0,30}account|not listed in .{0,30}(directory|address)|"
                     # Office 365 directory-based edge blocking: the recipient does not exist
                     r"recipient address rejected: access denied"),
    ("blocked-by-reputation", r"blocked using|black ?list|block ?list|\blisted\b|"
                              r"spamhaus|spamcop|barracuda|sorbs|uceprotect|\brbl\b|dnsbl|"
                              r"reputation|banned sending ip|s3150|s3140|"
                              r"(ip|address|network|sender)\W.{0,40}(blocked|banned)"),
    ("rate-limited", r"rate limit|rate control|too many (messages|connections|recipients|"
                     r"e-?mails|mails|concurrent)|throttl|unusual rate|temporarily deferred|"
                     r"slow down|exceeded the (maximum|rate|number)|receiving mail at a rate|"
                     r"sending (limit|rate)"),
    ("on-hold", r"gr[ae]y ?list|held for (review|moderation)|quarantin|"
                r"please (come back|try again) later"),
    ("spam-blocked", r"spam|unsolicited|\bjunk|bulk mail"),
    ("content-rejected", r"virus|malware|infected|(attachment|file type|file extension)"
                         r"\W.{0,40}(not allowed|blocked|rejected|prohibited|forbidden)|"
                         r"(forbidden|prohibited|not allowed|blocked) (attachment|content|"
                         r"file)|content (rejected|refused|policy|filter)|"
                         r"message content|malicious"),
    ("filtered", r"\bfilter|not accepting (mail|messages|e-?mail)|"
                 r"not (authorized|allowed|permitted) to (receive|send)|"
                 r"(refused|rejected|blocked) by (the )?(recipient|user)|"
                 r"only accepts? (messages|mail)|restricted to|"
                 r"(sender|you are) .{0,30}not (allowed|authori[sz]ed|permitted)|"
                 r"authrequired|delivery not authorized"),
    ("network-error", r"connection (timed out|refused|reset|closed|lost|dropped|died)|"
                      r"timed out|connection time-?out|time-?out (while|waiting|reading|"
                      r"connecting)|no route to host|network (is )?unreachable|"
                      r"(could not|couldn't|unable to|failed to) connect|lost connection|"
                      r"(tls|ssl|starttls)\W.{0,30}(fail|error|handshake|negotiat)|"
                      r"handshake|broken pipe|host unreachable|connect to .{0,80} failed"),
    ("spam-blocked", r"policy|blocked|access denied|"
                     r"relay(ing)? (access )?(denied|not permitted)|administrative prohibition|"
                     r"\bdenied\b|refused|rejected for"),
    ("user-unknown", r"mail ?box (is )?unavailable|couldn'?t be found|could not be found|"
                     r"unable to find|not (a )?valid (recipient|mail ?box|user|address)|"
                     r"no longer (valid|available|exists|in use)"),
    ("system-error", r"mail (routing )?loop|loop detected|too many hops|hop count|"
                     r"local (error|configuration)|internal (server )?error|"
                     r"system (error|problem|not accepting|busy)|"
                     r"(server|service|system) (is |was )?(temporarily )?(unavailable|busy|"
                     r"not available)|insufficient system storage|"
                     r"temporar(y|ily) (local )?(failure|problem|error|unavailable)|"
                     r"configuration error|resources temporarily|i/o error|out of memory|"
                     r"mailer error|try again later"),
    ("expired", r"time ?(limit )?(expired|exceeded)|retry (timeout|time) exceeded|expired|"
                r"gave up|giving up|(delivered|delivery) (for|within|in) .{0,20}"
                r"(days|hours)|too long in (the )?queue|has been in the queue|"
                r"failed for .{0,20}(days|hours)|could not be delivered for"),
)

_GENERIC: Final = re.compile(r"[245]\.0\.0|[45]\.4\.7")


@dataclass(frozen=True)
class BounceRules:
    """The rule table (see the module docstring); ``DEFAULT_RULES`` is the shipped one.

    ``statuses`` maps an enhanced status (``"5.1.1"``) or its class and subject (``"5.1"``)
    to a reason; ``patterns`` are ``(reason, compiled regex)`` tried in order; ``codes`` maps
    an SMTP reply code to a reason; ``classes`` maps every reason to its class.
    """

    statuses: Mapping[str, str]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    codes: Mapping[int, str]
    classes: Mapping[str, BounceClass] = field(default_factory=lambda: dict(REASONS))

    @classmethod
    def build(cls, statuses: Mapping[str, str], patterns: Sequence[tuple[str, str]],
              codes: Mapping[int, str],
              classes: Mapping[str, BounceClass] = REASONS) -> BounceRules:
        """A table from plain data; raises ``ValueError`` naming a bad entry (an unknown
        reason or class, a pattern that does not compile, a malformed status)."""
        known = dict(classes)
        for reason, klass in known.items():
            if klass not in ("hard", "soft", "unknown"):
                raise ValueError(f"classes.{reason}: {klass!r} is not hard, soft or unknown")
        for status, reason in statuses.items():
            if not re.fullmatch(r"[245]\.\d{1,3}(\.\d{1,3})?", status):
                raise ValueError(f"statuses: {status!r} is not a status like 5.1.1 or 5.1")
            _check_reason(f"statuses.{status}", reason, known)
        for code, reason in codes.items():
            if not 200 <= int(code) <= 599:
                raise ValueError(f"codes: {code!r} is not an SMTP reply code")
            _check_reason(f"codes.{code}", reason, known)
        compiled = []
        for i, (reason, pattern) in enumerate(patterns):
            _check_reason(f"patterns[{i}].reason", reason, known)
            try:
                compiled.append((reason, re.compile(pattern, re.IGNORECASE | re.DOTALL)))
            except re.error as exc:
                raise ValueError(f"patterns[{i}].pattern: {pattern!r} does not compile: "
                                 f"{exc}") from None
        return cls(dict(statuses), tuple(compiled), {int(k): v for k, v in codes.items()},
                   known)

    def with_overrides(self, statuses: Mapping[str, str] | None = None,
                       patterns: Sequence[tuple[str, str]] = (),
                       codes: Mapping[int, str] | None = None,
                       classes: Mapping[str, BounceClass] | None = None) -> BounceRules:
        """This table with an operator's entries in front (see the module docstring)."""
        merged_classes = {**self.classes, **(classes or {})}
        extra = BounceRules.build(statuses or {}, patterns, codes or {}, merged_classes)
        return BounceRules({**self.statuses, **extra.statuses},
                           extra.patterns + self.patterns, {**self.codes, **extra.codes},
                           merged_classes)

    def reason(self, status: str | None, code: int | None, text: str) -> str:
        """The reason for a bounce with enhanced ``status``, reply ``code`` and diagnostic
        ``text`` (any of them may be missing); ``"unknown"`` when nothing matches."""
        if status and not _GENERIC.fullmatch(status) and status in self.statuses:
            return self.statuses[status]
        for reason, pattern in self.patterns:
            if text and pattern.search(text):
                return reason
        if status:
            subject = status.rsplit(".", 1)[0]
            if subject in self.statuses:
                return self.statuses[subject]
        if code is not None and code in self.codes:
            return self.codes[code]
        return "unknown"

    def bounce_class(self, reason: str, status: str | None, code: int | None,
                     delayed: bool) -> BounceClass:
        """``hard``, ``soft`` or ``unknown`` for a bounce of ``reason`` (see the module
        docstring: a delay is soft, an unknown reason is soft only for a 4.x.x / 4xx)."""
        if delayed:
            return "soft"
        klass = self.classes.get(reason, "unknown")
        if klass != "unknown":
            return klass
        temporary = (status or "").startswith("4") or (code is not None and 400 <= code < 500)
        return "soft" if temporary else "unknown"


def _check_reason(where: str, reason: str, known: Mapping[str, BounceClass]) -> None:
    if reason not in known:
        raise ValueError(f"{where}: {reason!r} is not a reason; valid: {', '.join(known)}")


DEFAULT_RULES: Final = BounceRules.build(_STATUSES, _PATTERNS, _CODES)
"""The shipped table."""
