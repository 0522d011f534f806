"""The clinic dashboard's charts: pygal SVG made fit for the pages' Content-Security-Policy.

pygal writes a ``<script>`` (its tooltip configuration) and a ``<style>`` into every SVG; the
pages allow neither (``script-src 'self'``, ``style-src 'self'``). So each chart is rendered to a
tree, stripped of both (and of the tooltip layer, whose only inline ``style`` attribute is for the
script), and given ``role="img"``, a ``<title>`` and a ``<desc>``; the stylesheet pygal would have
inlined is served from ``/dashboard/charts.css`` (``chart_stylesheet``), built by pygal itself with
a class in place of each chart's random id, so that it follows pygal's versions.

Every value stays in the SVG as pygal writes it (``<desc class="value">`` beside each bar or dot),
and the page puts the same numbers in a table under the chart.
"""

from __future__ import annotations

import functools
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.style import Style

CHART_CLASS = "dashboard-chart"

# The app's palette (static/css/app.css), readable on white, distinct in grey scale by order.
STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#212529",
    foreground_strong="#212529",
    foreground_subtle="#6c757d",
    opacity="1",
    opacity_hover="1",
    transition="none",
    colors=("#1d4e89", "#2a9d8f", "#e9a23b", "#b23a48", "#6c757d", "#7b5ea7", "#3c6e47"),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    value_font_size=12,
    value_label_font_size=12,
    no_data_font_size=20,
)

_BASE = {
    "style": STYLE,
    "js": [],
    "disable_xml_declaration": True,
    "width": 760,
    "height": 340,
    "legend_at_bottom": True,
    "legend_at_bottom_columns": 4,
    "print_values": True,
    "print_zeroes": False,
    "show_y_guides": True,
    "margin": 12,
    "no_data_text": "No data in this period",
    "truncate_label": -1,
    "truncate_legend": -1,
}


def percent_text(value: float | None) -> str:
    """A share as the charts and tables print it."""
    return "—" if value is None else f"{value:g}%"


def count_text(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


@dataclass
class Series:
    name: str
    values: Sequence[float | None]


def chart_svg(
    *,
    kind: str,
    dom_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    formatter: Callable[[float | None], str] = count_text,
    **options: Any,
) -> SafeString:
    """One chart as inline SVG markup: no script, no style element or attribute, labelled for screen readers."""
    chart_class = {
        "line": pygal.Line,
        "bar": pygal.Bar,
        "hbar": pygal.HorizontalBar,
        "hstacked": pygal.HorizontalStackedBar,
    }[kind]
    chart = chart_class(**{**_BASE, **options}, value_formatter=formatter)
    chart.title = title
    chart.x_labels = list(labels)
    for serie in series:
        chart.add(serie.name, list(serie.values))
    root = chart.render_tree()
    # Safe: serialised by ElementTree, which escapes every text and attribute (labels may hold a drug name
    # typed by staff); tests/insights/test_dashboard_view.py checks it with markup in a label.
    return mark_safe(_accessible(root, dom_id=dom_id, description=description))  # noqa: S308  # nosec B308 B703


def _accessible(root: ET.Element, *, dom_id: str, description: str) -> str:
    # pygal builds its tree with plain tag names and an ``xmlns`` attribute on the root (no lxml).
    for parent in list(root.iter()):
        for child in list(parent):
            # Out: comments, scripts, styles, and the tooltip layer (moved by pygal's script only).
            if (
                not isinstance(child.tag, str)
                or child.tag.rpartition("}")[2] in ("script", "style")
                or "tooltip-overlay" in child.get("class", "").split()
            ):
                parent.remove(child)
            else:
                child.attrib.pop("style", None)
    root.set("id", dom_id)
    root.set("class", f"pygal-chart {CHART_CLASS}")
    root.set("role", "img")
    root.set("aria-labelledby", f"{dom_id}-title {dom_id}-desc")
    title = root.find("title")
    if title is None:
        title = ET.SubElement(root, "title")
    title.set("id", f"{dom_id}-title")
    desc = ET.Element("desc", {"id": f"{dom_id}-desc"})
    desc.text = description
    root.insert(list(root).index(title) + 1, desc)
    return ET.tostring(root, encoding="unicode")


@functools.cache
def chart_stylesheet() -> str:
    """The CSS pygal inlines in each chart, for every chart of the class ``dashboard-chart``.

    Rendered by pygal itself (from a chart of every kind the dashboard draws, with enough series
    for its colours), its random chart id swapped for the class.
    """
    sheets = []
    for chart_class in (pygal.Line, pygal.Bar, pygal.HorizontalBar, pygal.HorizontalStackedBar):
        chart = chart_class(**_BASE)
        for n in range(len(STYLE.colors)):
            chart.add(str(n), [1])
        svg = chart.render(is_unicode=True)
        # The text of the <style> elements, as XML escaped it (a child combinator is written "&gt;").
        css = html.unescape("\n".join(re.findall(r"<style[^>]*>(.*?)</style>", svg, flags=re.S)))
        sheets.append(css.replace(f"#chart-{chart.uuid}", f".{CHART_CLASS}"))
    unique = list(dict.fromkeys("\n".join(sheets).split("}")))
    return "}".join(unique)
