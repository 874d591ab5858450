"""Finding PEM blocks (RFC 7468) in text, in time linear in its length.

``pem_blocks`` returns what ``re.findall`` of

    -----BEGIN (LABEL)-----(.*?)-----END \\1-----

would (the pattern certwarden used before), without its cost: that pattern
restarts a scan to the end of the text at every BEGIN line that has no END, so
8,000 lone ``BEGIN CERTIFICATE`` lines (224 KB) took seconds, the square of the
lines. Here the text is scanned once for BEGIN and END markers, and each BEGIN
is paired with the next END of the same label by a pointer that only moves
forward. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["pem_blocks"]

# A marker: "-----BEGIN LABEL-----" or "-----END LABEL-----". The label class
# holds no "-", so an attempt gives up at the end of its label: one pass.
_MARKER: Final = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 #]+)-----")


def pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every ``(label, body)`` of ``data``, in order, as the regex above finds them.

    A BEGIN takes the first END of the same label that starts after it; the
    text in between (other markers included) is its body. The next block is
    looked for after that END. A BEGIN with no matching END is not a block.
    """
    begins: list[tuple[bytes, int, int]] = []  # (label, start, end) of BEGIN markers
    ends: dict[bytes, list[tuple[int, int]]] = {}  # label -> [(start, end) of END markers]
    search = _MARKER.search
    marker = search(data)
    while marker is not None:
        kind, label = marker.group(1, 2)
        start, end = marker.span()
        if kind == b"BEGIN":
            begins.append((label, start, end))
        else:
            ends.setdefault(label, []).append((start, end))
        # Two markers may share dashes ("-----BEGIN A-----END A-----" holds an
        # END too): the next one can start within this one's last five bytes.
        marker = search(data, end - 5)
    blocks: list[tuple[bytes, bytes]] = []
    cursor: dict[bytes, int] = {}  # label -> index of the first END not yet passed
    resume = 0  # where the regex would look for the next BEGIN
    for label, begin_start, body_start in begins:
        if begin_start < resume:
            continue  # inside the block found last
        candidates = ends.get(label)
        if not candidates:
            continue
        index = cursor.get(label, 0)
        while index < len(candidates) and candidates[index][0] < body_start:
            index += 1
        cursor[label] = index
        if index == len(candidates):
            continue
        end_start, end_end = candidates[index]
        blocks.append((label, data[body_start:end_start]))
        resume = end_end
    return blocks
