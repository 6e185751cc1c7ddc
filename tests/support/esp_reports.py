"""Realistic ESP reports for tests: an ARF complaint (Yahoo-style) and a DSN hard bounce."""
from __future__ import annotations


def arf(ref: str, recipient: str, message_id: str, feedback_type: str = "abuse") -> bytes:
    """A spam complaint as Yahoo/AOL send them (RFC 5965), CRLF line endings."""
    text = f"""From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
To: fbl@bounces.example.com
Subject: FW: Weekly deals
Date: Thu, 26 Nov 2026 10:05:00 +0000
Message-ID: <arf-{message_id}@arf.mail.yahoo.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF_BOUNDARY"

--ARF_BOUNDARY
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 192.0.2.25.

--ARF_BOUNDARY
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 1
Original-Mail-From: <bounces@example.com>
Original-Rcpt-To: {recipient}
Arrival-Date: Thu, 26 Nov 2026 10:00:00 +0000
Reporting-MTA: dns; mta1.arf.mail.yahoo.com
Source-IP: 192.0.2.25

--ARF_BOUNDARY
Content-Type: message/rfc822

From: Deals <news@example.com>
To: {recipient}
Subject: Weekly deals
Date: Thu, 26 Nov 2026 09:00:00 +0000
Message-ID: <{message_id}>
X-FL-Ref: {ref}
MIME-Version: 1.0
Content-Type: text/plain

Hello!

--ARF_BOUNDARY--
"""
    return text.replace("\n", "\r\n").encode()


def dsn(ref: str, recipient: str, message_id: str) -> bytes:
    """A hard bounce (RFC 3464) with the original's headers."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounces+x@example.com
Subject: Undelivered Mail Returned to Sender
Date: Thu, 26 Nov 2026 10:01:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="DSN_BOUNDARY"

--DSN_BOUNDARY
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--DSN_BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Thu, 26 Nov 2026 10:00:30 +0000

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--DSN_BOUNDARY
Content-Type: text/rfc822-headers

From: Deals <news@example.com>
To: {recipient}
Subject: Weekly deals
Message-ID: <{message_id}>
X-FL-Ref: {ref}

--DSN_BOUNDARY--
""".encode()
