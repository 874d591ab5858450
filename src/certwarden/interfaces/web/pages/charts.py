"""The dashboard's expiry timeline, drawn on the server as an SVG bar chart
(no script, readable by screen readers through its title, description and
per-bar titles)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

from certwarden.services.readmodel import TimelineBucket

__all__ = ["timeline_svg"]

EXPIRED = "#a61b1b"
WINDOW = "#d99a00"
LATER = "#3b6fb6"


def _nice_step(value: int) -> int:
    """A round tick step (1, 2, 5, 10, 20, 50 ...) so that four steps cover ``value``."""
    need = max(1, -(-value // 4))
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= need:
                return factor * magnitude
        magnitude *= 10


def timeline_svg(buckets: Sequence[TimelineBucket], *, now: datetime, window: timedelta) -> Markup:
    """Bars: the already-expired count first, then one bar per week."""
    width, height = 720, 220
    left, right, top, bottom = 44, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(buckets)
    step = _nice_step(max((b.count for b in buckets), default=0))
    ymax = 4 * step
    slot = plot_w / max(n, 1)
    bar_w = max(2.0, slot * 0.72)
    total = sum(b.count for b in buckets)
    expired = buckets[0].count if buckets and buckets[0].start is None else 0
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-labelledby="tl-title tl-desc" '
        'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">',
        '<title id="tl-title">Certificate expiries per week</title>',
        f'<desc id="tl-desc">{expired} already expired; {total - expired} expiring in the '
        f"next {max(n - 1, 0)} weeks.</desc>",
    ]
    for i in range(5):
        value = step * i
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e3e6eb" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6577">{value}</text>'
        )
    last_month = None
    for index, bucket in enumerate(buckets):
        x = left + index * slot + (slot - bar_w) / 2
        h = plot_h * bucket.count / ymax if ymax else 0
        y = top + plot_h - h
        if bucket.start is None:
            colour, label = EXPIRED, f"{bucket.count} already expired"
        else:
            colour = WINDOW if bucket.start < now + window else LATER
            label = (
                f"{bucket.count} expiring {bucket.start:%Y-%m-%d} – "
                f"{bucket.end - timedelta(seconds=1):%Y-%m-%d}"
            )
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0):.1f}" '
            f'fill="{colour}"><title>{escape(label)}</title></rect>'
        )
        if bucket.count and bucket.count == max(b.count for b in buckets):
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'fill="#1d2430">{bucket.count}</text>'
            )
        axis_y = top + plot_h + 14
        if bucket.start is None:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{axis_y}" text-anchor="middle" '
                'fill="#a61b1b">exp.</text>'
            )
        elif bucket.start.month != last_month:
            last_month = bucket.start.month
            parts.append(f'<text x="{x:.1f}" y="{axis_y}" fill="#5b6577">{bucket.start:%b}</text>')
            if index == 1 or bucket.start.month == 1:
                parts.append(
                    f'<text x="{x:.1f}" y="{axis_y + 13}" fill="#8a93a3">{bucket.start:%Y}</text>'
                )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#98a2b3"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built here from numbers and escaped labels
