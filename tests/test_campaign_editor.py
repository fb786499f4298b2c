"""The marketer's campaign editor over HTTP: the form's errors and the subject check shown as
pages, CSRF and ownership, the streamed audience upload and its summary, the preview against
the email the worker really sends, and sending after a confirmation."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import replace

import httpx
from starlette.applications import Starlette

from service.access import create_api_key
from service.core.config import Settings
from service.devtools.relay import Mailbox
from tests.admin_session import signed_in
from tests.campaign_setup import authorize_all, create, marketer_key_id, upload
from tests.conftest import run_worker, serving
from tests.editor_setup import FORM, create_draft, marketer, staged, upload_page
from tests.helpers import parse_mail

# Header, three good rows (one address twice, differently written), two that are no address.
CSV = (b"email,name,external_id\r\nana@example.org,Ana,1\r\nnot-an-address,Bo,2\r\n"
       b"ben@example.org,Ben,3\r\nANA@Example.org,Ana again,4\r\n\r\n@nobody,,5\r\n")


async def test_form_errors_are_shown_on_the_form_with_what_was_typed(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    csrf = await marketer(app, client, keys["marketer"])
    cases = {
        "rate_per_second": {"rate_per_second": "fast"},
        "links": {"links": "http://riverside.example/plain"},
        "scheduled_at": {"scheduled_at": "next tuesday"},
    }
    for field, change in cases.items():
        page = await client.post("/admin/campaigns/new",
                                 data={**FORM, **change, "csrf": csrf, "intent": "create"})
        assert page.status_code == 422
        assert page.headers["content-type"].startswith("text/html")
        assert f'id="{field}" ' in page.text and 'aria-invalid="true"' in page.text
        assert f"`{field}`" in page.text  # the API's own message
        assert 'value="Our Spring Newsletter"' in page.text  # kept
    blank = await client.post("/admin/campaigns/new", data={
        **FORM, "teaser": "", "content": "", "csrf": csrf, "intent": "create"})
    assert blank.status_code == 422 and "needs `content`" in blank.text
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_the_subject_check_shows_the_policys_reason_category_and_characters(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    csrf = await marketer(app, client, keys["marketer"])
    refused = {**FORM, "subject": "Your diabetes test results", "csrf": csrf}
    checked = await client.post("/admin/campaigns/new", data={**refused, "intent": "check"})
    assert checked.status_code == 200
    assert "Refused:</strong> this subject" in checked.text
    assert "<code>condition</code>" in checked.text
    assert "characters 6 to 13: <span class=\"quoted\">Your <mark>diabetes</mark>" in checked.text
    assert "this teaser is fine" in checked.text
    assert 'value="Your diabetes test results"' in checked.text
    created = await client.post("/admin/campaigns/new", data={**refused, "intent": "create"})
    assert created.status_code == 422 and "<code>condition</code>" in created.text
    assert "The subject line is not generic" in created.text
    fine = await client.post("/admin/campaigns/new", data={**FORM, "csrf": csrf,
                                                           "intent": "check"})
    assert "this subject is fine" in fine.text and "Refused" not in fine.text
    assert await app.state.resources.db.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_a_draft_is_created_with_the_apis_rules_and_the_form_is_utc(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    csrf = await marketer(app, client, keys["marketer"])
    campaign = await create_draft(client, csrf, scheduled_at="2031-05-01T09:30")
    row = await app.state.resources.db.fetchrow(
        "SELECT * FROM campaigns WHERE id = $1", uuid.UUID(campaign))
    assert row["status"] == "draft" and row["tracking"] and row["rate_per_second"] == 1000
    assert row["links"] == ["https://riverside.example/news", "https://riverside.example/hours"]
    assert row["scheduled_at"].isoformat() == "2031-05-01T09:30:00+00:00"


async def test_forms_without_the_sessions_csrf_token_are_refused(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    csrf = await marketer(app, client, keys["marketer"])
    campaign = await create_draft(client, csrf)
    assert (await client.post("/admin/campaigns/new", data=FORM)).status_code == 403
    for token in (None, "0" * 64):
        refused = await upload_page(client, campaign, token, CSV)
        assert refused.status_code == 403 and refused.json()["type"].endswith("/csrf")
    assert await staged(app, campaign) == []
    sent = await client.post(f"/admin/campaigns/{campaign}/send", data={"confirm": "yes"})
    assert sent.status_code == 403
    cross = await client.post(f"/admin/campaigns/{campaign}/send",
                              data={"confirm": "yes", "csrf": csrf},
                              headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    status = await app.state.resources.db.fetchval(
        "SELECT status FROM campaigns WHERE id = $1", uuid.UUID(campaign))
    assert status == "draft"


async def test_another_marketers_draft_is_not_found(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    colleague = await create_api_key(app.state.resources.db, "marketer", "second marketer")
    theirs = await create(client, colleague)
    csrf = await marketer(app, client, keys["marketer"])
    assert (await client.get(f"/admin/campaigns/{theirs}/preview")).status_code == 404
    assert (await upload_page(client, theirs, csrf, CSV)).status_code == 404
    sent = await client.post(f"/admin/campaigns/{theirs}/send", data={"csrf": csrf,
                                                                      "confirm": "yes"})
    assert sent.status_code == 404
    assert await staged(app, theirs) == []


async def test_the_upload_summary_and_the_rows_staged_are_the_apis(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str],
) -> None:
    csrf = await marketer(app, client, keys["marketer"])
    campaign = await create_draft(client, csrf)
    page = await upload_page(client, campaign, csrf, CSV)
    assert page.status_code == 200
    summary = re.sub(r"\s+", " ", page.text.split('id="audience-summary"')[1].split("</table>")[0])
    assert '<th scope="row">Rows read</th><td>5</td>' in summary
    assert '<th scope="row">Accepted</th><td>2</td>' in summary
    assert '<th scope="row">Left out: already in the audience</th><td>1</td>' in summary
    assert ('<th scope="row">Left out: not an email address</th><td>2</td><td>Lines 3, 7</td>'
            in summary)
    assert "2 recipients so far." in page.text
    assert "example.org" not in page.text  # counts and line numbers, never an address
    by_api = await create(client, keys["marketer"])
    report = await upload(client, keys["marketer"], by_api, CSV)
    assert report == {"rows": 5, "accepted": 2, "duplicates": 1, "invalid": 2,
                      "invalid_lines": [3, 7]}
    assert await staged(app, campaign) == await staged(app, by_api)


async def test_uploads_refused_are_pages_and_stage_nothing(
    settings: Settings, keys: dict[str, str],
) -> None:
    async with serving(replace(settings, audience_max_bytes=64 * 1024)) as (app, client):
        marketer_key = await create_api_key(app.state.resources.db, "marketer", "small")
        csrf = await marketer(app, client, marketer_key)
        campaign = await create_draft(client, csrf)
        refusals = {
            413: (b"someone@example.org\n" * 4000, "text/csv", "The file is too large"),
            415: (b"\x89PNG\r\n\x1a\n", "image/png", "This file is not a CSV file"),
            422: (b"a@example.org\n" + b"x" * 3000 + b"\n", "text/csv", "(line 2)"),
        }
        for status, (data, content_type, shown) in refusals.items():
            page = await upload_page(client, campaign, csrf, data, content_type)
            assert page.status_code == status, page.text
            assert page.headers["content-type"].startswith("text/html")
            assert "Nothing was added." in page.text and shown in page.text
        binary = await upload_page(client, campaign, csrf, b"a@example.org\n\x00\x01")
        assert binary.status_code == 415
        empty = await upload_page(client, campaign, csrf, b"")
        assert empty.status_code == 422 and "Choose the CSV file" in empty.text
        # Two files, even with the very same headers, are not one file.
        twice = ("patients.csv", b"a@example.org\n", "text/csv")
        two = await client.post(f"/admin/campaigns/{campaign}/audience", data={"csrf": csrf},
                                files=[("audience", twice), ("audience", twice)])
        assert two.status_code == 400 and "Send one file" in two.text
        assert await staged(app, campaign) == []


def _placeholders(text: str) -> str:
    return re.sub(r"/(p|u|t/c|t/o)/[A-Za-z0-9_-]+", r"/\1/preview", text)


async def test_the_preview_is_the_email_the_worker_sends(
    app: Starlette, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings,
    mailbox: Mailbox,
) -> None:
    await authorize_all(app, ["reader@example.org"], await marketer_key_id(app))
    csrf = await marketer(app, client, keys["marketer"])
    campaign = await create_draft(client, csrf)
    preview = await client.get(f"/admin/campaigns/{campaign}/preview")
    assert preview.status_code == 200
    assert "<dt>Subject</dt><dd>Our Spring Newsletter</dd>" in preview.text
    assert "<dt>From</dt><dd>Riverside Clinic &lt;no-reply@clinic.test&gt;</dd>" in preview.text
    assert "(a placeholder)" in preview.text and "style=" not in preview.text.split(
        "<details>")[0]
    assert (await upload_page(client, campaign, csrf, b"reader@example.org\n")).status_code == 200
    confirm = await client.post(f"/admin/campaigns/{campaign}/send", data={"csrf": csrf})
    assert confirm.status_code == 200 and "Yes, send to 1 recipient" in confirm.text
    sent = await client.post(f"/admin/campaigns/{campaign}/send",
                             data={"csrf": csrf, "confirm": "yes"})
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/admin/campaigns/{campaign}"
    await run_worker(settings)
    [(_, _, data)] = mailbox.messages
    mail = parse_mail(data)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    shown_text = preview.text.split('<pre class="mail-source">')[1].split("</pre>")[0]
    assert shown_text == html.escape(_placeholders(text))
    html_part = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    shown_html = preview.text.split('<pre class="mail-source">')[2].split("</pre>")[0]
    assert shown_html == html.escape(_placeholders(html_part))
    again = await client.post(f"/admin/campaigns/{campaign}/send",
                              data={"csrf": csrf, "confirm": "yes"})
    assert again.status_code == 409 and "already sent" in again.text


async def test_with_marketing_off_the_editor_says_so(
    settings: Settings, keys: dict[str, str],
) -> None:
    async with serving(replace(settings, marketing_enabled=False)) as (app, client):
        marketer_key = await create_api_key(app.state.resources.db, "marketer", "off")
        await signed_in(app, client, marketer_key)
        page = await client.get("/admin/campaigns/new")
        assert page.status_code == 403
        assert "Marketing email is turned off" in page.text
        assert page.headers["content-type"].startswith("text/html")
