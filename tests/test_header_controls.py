"""Header values and links refuse exactly the C0 controls and DEL (``compose._clean``, now a
compiled search rather than a loop over characters): a table over every code point up to
U+2FFF, so a faster check cannot quietly let one through or refuse a letter."""

from __future__ import annotations

import pytest

from service.core.clinic import Clinic
from service.delivery.compose import Composer, HeaderInjection, encode_header


def _is_control(code: int) -> bool:
    return code < 0x20 or code == 0x7F


def test_every_code_point_is_judged_as_a_control_or_not() -> None:
    for code in range(0x3000):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates are not text
        value = f"a{chr(code)}b"
        if _is_control(code):
            with pytest.raises(HeaderInjection):
                encode_header(value)
        else:
            assert encode_header(value)


@pytest.mark.parametrize("field", ["recipient", "link_url", "message_id"])
@pytest.mark.parametrize("control", ["\r", "\n", "\x00", "\x1f", "\x7f"])
def test_a_control_in_a_rendered_field_is_refused(field: str, control: str) -> None:
    fields = {"recipient": "p@example.org", "subject": "Reminder",
              "link_url": "https://portal.test/p/x", "message_id": "abc"}
    fields[field] += control
    with pytest.raises(HeaderInjection):
        Composer("no-reply@clinic.test", Clinic("Clinic")).render(**fields)
