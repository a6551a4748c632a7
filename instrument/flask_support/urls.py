"""URLs for templates and redirects, built once per endpoint, arguments and mount point.

Flask's ``url_for`` does real work (a URL-map lookup, quoting of every
argument), and a page turn builds about ten: the stylesheet, the script,
the form actions, the redirect. Those URLs depend only on the endpoint, its
arguments and where the app is mounted (the request's script root), so each
is built once and remembered. Only for relative URLs without query-string
surprises: anything else (``_external``, ``_anchor``) goes to ``url_for``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Flask, current_app, request, url_for

__all__ = ["cached_url", "install_cached_urls"]


def cached_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)``, remembered (a leading '.' means this blueprint, as there)."""
    if any(key.startswith("_") for key in values):
        return url_for(endpoint, **values)
    if endpoint.startswith("."):
        endpoint = f"{request.blueprint or ''}{endpoint}"
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return _build(app, request.script_root, endpoint, tuple(sorted(values.items())))


@lru_cache(maxsize=4096)
def _build(app: Flask, script_root: str, endpoint: str, values: tuple[tuple[str, Any], ...]) -> str:
    # app and script_root are part of the key; url_for reads them from the current context.
    return url_for(endpoint, **dict(values))


def install_cached_urls(app: Flask) -> None:
    """Make ``cached_url`` available to templates."""
    app.add_template_global(cached_url, "cached_url")
