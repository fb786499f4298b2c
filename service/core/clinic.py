"""Who is writing: the clinic's name, phone, web address, postal address and logo, as every
page and every email shows them. One source (the CLINIC_* settings), read and checked at start,
so a page can never show a contact the emails do not, and a bad value stops start-up instead of
reaching a patient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from service.core.setting_values import ConfigError

# A phone number as people write it: digits, a leading +, spaces, dots, dashes, parentheses and
# an extension. Nothing that could break out of a tel: link.
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{5,30}(?:\s*(?:ext\.?|x)\s*[0-9]{1,6})?")
# The formats a browser shows in <img> without a plugin, by the file's own first bytes: the
# service serves the logo from its own origin (no external asset), with the type it checked.
_LOGO_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"RIFF", "image/webp"),
)
MAX_LOGO_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Logo:
    data: bytes
    media_type: str


@dataclass(frozen=True, slots=True)
class Clinic:
    name: str
    phone: str | None = None
    website: str | None = None
    postal_address: str | None = None
    has_logo: bool = False

    @property
    def tel(self) -> str | None:
        """The phone as a ``tel:`` URI (RFC 3966): the digits and a leading +, nothing else."""
        if self.phone is None:
            return None
        number = self.phone.split("x")[0].split("ext")[0]
        return "tel:" + re.sub(r"[^0-9+]", "", number)

    @property
    def website_host(self) -> str | None:
        """What a link to the website shows: its own host, so the text never names another."""
        return urlsplit(self.website).hostname if self.website else None


def read_phone(value: str | None) -> str | None:
    if not value:
        return None
    if not _PHONE.fullmatch(value.strip()):
        raise ConfigError("CLINIC_PHONE", "must be a phone number (digits, +, spaces, (), -, .)")
    return value.strip()


def read_website(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise ConfigError("CLINIC_WEBSITE", "must be an https:// (or http://) address")
    return value.strip()


def read_logo(path: str | None) -> Logo | None:
    """The logo file, checked: a PNG, JPEG or WebP of at most MAX_LOGO_BYTES. SVG is refused: a
    served SVG is a document that can carry script and external references."""
    if not path:
        return None
    file = Path(path)
    if not file.is_file():
        raise ConfigError("CLINIC_LOGO_FILE", "names a file that does not exist")
    data = file.read_bytes()
    if len(data) > MAX_LOGO_BYTES:
        raise ConfigError("CLINIC_LOGO_FILE", f"must be at most {MAX_LOGO_BYTES} bytes")
    for magic, media_type in _LOGO_TYPES:
        if data.startswith(magic) and (media_type != "image/webp" or data[8:12] == b"WEBP"):
            return Logo(data, media_type)
    raise ConfigError("CLINIC_LOGO_FILE", "must be a PNG, JPEG or WebP image")
