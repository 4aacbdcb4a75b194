"""Small inline-SVG charts for the admin dashboards. The admin runs offline (no CDN, no JS chart
library), and a server-drawn SVG needs neither; it scales with the page and reads well in
screenshots. Every bar has a <title> so hovering shows the exact figure, and each chart has an
aria-label summarising it for screen readers."""
from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


@dataclass
class Bar:
    label: str
    value: float
    tooltip: str
    css_class: str = ""


def _nice_ceiling(value: float) -> int:
    """The smallest 1/2/5 × 10^n at or above `value` (axis maximum), at least 1."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


def column_chart(bars: list[Bar], *, title: str, width: int = 720, height: int = 200,
                 label_every: int = 1) -> SafeString:
    """Vertical bars left to right (e.g. calls per day), with a light grid and a y axis."""
    left, right, top, bottom = 34, 8, 10, 24
    plot_width, plot_height = width - left - right, height - top - bottom
    maximum = _nice_ceiling(max((bar.value for bar in bars), default=0))
    slot = plot_width / max(len(bars), 1)
    bar_width = max(slot * 0.68, 1)

    grid = []
    for tick in (0, maximum / 2, maximum):
        y = top + plot_height - plot_height * tick / maximum
        tick_label = f"{tick:g}"
        grid.append(format_html(
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
            left, width - right, f"{y:.1f}", f"{y:.1f}", left - 6, f"{y + 4:.1f}", tick_label,
        ))
    columns = []
    for index, bar in enumerate(bars):
        bar_height = plot_height * bar.value / maximum
        x = left + index * slot + (slot - bar_width) / 2
        y = top + plot_height - bar_height
        columns.append(format_html(
            '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}" rx="2"><title>{}</title></rect>',
            bar.css_class, f"{x:.1f}", f"{y:.1f}", f"{bar_width:.1f}", f"{max(bar_height, 0):.1f}", bar.tooltip,
        ))
        if index % label_every == 0 or index == len(bars) - 1:
            columns.append(format_html(
                '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                f"{x + bar_width / 2:.1f}", height - 6, bar.label,
            ))
    return format_html(
        '<svg class="soniq-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">'
        "{}{}</svg>",
        width, height, title, mark_safe("".join(grid)), mark_safe("".join(columns)),
    )


def bar_list_chart(bars: list[Bar], *, title: str, width: int = 360, row_height: int = 26) -> SafeString:
    """Horizontal bars with their label and value (e.g. call outcomes)."""
    label_width, value_width = 130, 40
    bar_space = width - label_width - value_width
    maximum = max((bar.value for bar in bars), default=0) or 1
    height = max(len(bars), 1) * row_height
    rows = format_html_join("", (
        '<g transform="translate(0,{})">'
        '<text class="label" x="0" y="{}">{}</text>'
        '<rect class="track" x="{}" y="{}" width="{}" height="{}" rx="3"/>'
        '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}" rx="3"><title>{}</title></rect>'
        '<text class="value" x="{}" y="{}" text-anchor="end">{}</text>'
        "</g>"
    ), (
        (
            index * row_height, row_height / 2 + 4, bar.label,
            label_width, 5, bar_space, row_height - 10,
            bar.css_class, label_width, 5, f"{max(bar_space * bar.value / maximum, 2):.1f}", row_height - 10,
            bar.tooltip,
            width, row_height / 2 + 4, f"{bar.value:g}",
        )
        for index, bar in enumerate(bars)
    ))
    return format_html(
        '<svg class="soniq-chart soniq-bars" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        width, height, title, rows,
    )


def tenant_home_charts(summary) -> dict[str, SafeString]:
    """The two charts of the tenant home page, from `dashboard.tenant_home_summary`."""
    days = summary.calls_per_day
    calls_chart = column_chart(
        [
            Bar(
                label=f"{item.day.day} {item.day:%b}" if item.day.day == 1 or index == 0 else f"{item.day.day}",
                value=item.count,
                tooltip=f"{item.day:%a} {item.day.day} {item.day:%b}: {item.count} call{'s' if item.count != 1 else ''}",
                css_class="today" if item.day == summary.today else "",
            )
            for index, item in enumerate(days)
        ],
        title=f"Calls per day for the last {len(days)} days: {summary.calls_last_period} in total",
        label_every=3,
    )
    outcomes_chart = bar_list_chart(
        [Bar(label=item.label, value=item.count, tooltip=f"{item.label}: {item.count}", css_class=item.outcome)
         for item in summary.outcomes],
        title="Call outcomes: " + ", ".join(f"{item.label} {item.count}" for item in summary.outcomes),
    )
    return {"calls_per_day": calls_chart, "outcomes": outcomes_chart}
