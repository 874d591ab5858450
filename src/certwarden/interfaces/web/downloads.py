"""``Content-Disposition`` for downloads whose name comes from a certificate.

A certificate's CN may hold any Unicode, quotes, or CR/LF: put raw into a
header it made the response fail (a header is Latin-1 and one line). The
header follows RFC 6266 section 4.3: a plain ASCII ``filename`` for old
clients (unsafe characters replaced by ``_``), and, when the name is not plain
ASCII, ``filename*`` with the UTF-8 name percent-encoded (RFC 8187).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

__all__ = ["attachment"]

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._ -]")
_MAX_NAME = 120


def attachment(stem: str, extension: str, *, fallback: str = "certificate") -> str:
    """The ``Content-Disposition`` value for downloading ``stem`` + ``extension``.

    Control characters are dropped, path separators and quotes replaced, the
    name kept short; ``fallback`` is used when nothing printable is left.
    """
    cleaned = (
        "".join(
            "_" if ch in '/\\"' else ch
            for ch in stem
            if unicodedata.category(ch)[0] != "C"  # Cc, Cf, Cs, Co, Cn: controls and the like
        ).strip(" .")[:_MAX_NAME]
        or fallback
    )
    name = f"{cleaned}{extension}"
    ascii_name = _UNSAFE_ASCII.sub("_", name)
    if ascii_name == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
