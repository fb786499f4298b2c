"""Reports as mail systems write them: a Postfix-style RFC 3464 DSN and an RFC 5965 ARF
complaint, spelled out as text rather than built with the code under test."""

from __future__ import annotations


def dsn(to: str, final_recipient: str, *, action: str = "failed", status: str = "5.1.1",
        return_path: str | None = None) -> bytes:
    quoted = f"Return-Path: <{return_path}>\r\n" if return_path else ""
    return f"""From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r
To: {to}\r
Subject: Undelivered Mail Returned to Sender\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status;\r
\tboundary="B0UND"\r
\r
--B0UND\r
Content-Type: text/plain; charset=us-ascii\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
\r
--B0UND\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.example.org\r
Arrival-Date: Wed,  2 Dec 2026 10:00:00 +0000 (UTC)\r
\r
Final-Recipient: rfc822; {final_recipient}\r
Original-Recipient: rfc822;{final_recipient}\r
Action: {action}\r
Status: {status}\r
Remote-MTA: dns; mx2.example.org\r
Diagnostic-Code: smtp; 550 {status} user unknown\r
\r
--B0UND\r
Content-Type: text/rfc822-headers\r
\r
{quoted}From: Riverside Clinic <no-reply@clinic.test>\r
Subject: Upcoming Appointment Reminder\r
\r
--B0UND--\r
""".encode()


def arf(to: str, return_path: str | None, *, feedback_type: str = "abuse") -> bytes:
    quoted = f"Return-Path: <{return_path}>\r\n" if return_path else ""
    return f"""From: feedback@mailbox-provider.example\r
To: {to}\r
Subject: FW: Our Spring Newsletter\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report;\r
\tboundary="ARFB"\r
\r
--ARFB\r
Content-Type: text/plain; charset=us-ascii\r
\r
This is an email abuse report for an email message received on 2 Dec 2026.\r
\r
--ARFB\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: {feedback_type}\r
User-Agent: ExampleFBL/1.0\r
Version: 1\r
\r
--ARFB\r
Content-Type: message/rfc822\r
Content-Disposition: inline\r
\r
{quoted}From: Riverside Clinic <no-reply@clinic.test>\r
Subject: Our Spring Newsletter\r
\r
News and hours from Riverside Clinic\r
\r
--ARFB--\r
""".encode()
