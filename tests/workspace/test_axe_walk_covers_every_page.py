"""The browser accessibility walk (tests/e2e/test_accessibility.py) must visit every page there is."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver

from tests.e2e.test_accessibility import NOT_PAGES, PORTAL_PAGES, STAFF_PAGES


def _names(patterns: list, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for entry in patterns:
        if isinstance(entry, URLResolver):
            space = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            names |= _names(entry.url_patterns, space)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(prefix + entry.name)
    return names


def test_every_page_of_the_product_is_in_the_axe_walk():
    names = {
        n
        for n in _names(get_resolver().url_patterns)
        if n.split(":")[0] in ("accounts", "workspace", "portal", "reminders", "audit")
    }
    assert names - STAFF_PAGES - PORTAL_PAGES - NOT_PAGES == set()
