"""Security plumbing shared by every blueprint of the host: headers and error pages.

The content security policy allows scripts, styles and images from this
server only, and no inline code at all: a fill that slipped past escaping
still could not run. Respondent pages are never cached, so the browser's back
button on a shared computer does not show the previous person's answers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from instrument import catalogue
from instrument.catalogue import DEFAULT_LANGUAGE

__all__ = ["browser_language", "error_page", "install_error_pages", "install_headers"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def install_headers(app: Flask) -> None:
    """Add security headers to every response (those a view set itself are left alone)."""
    defaults = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        # Personal links carry a token: never leak a URL to another site.
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if app.config.get("SESSION_COOKIE_SECURE"):
        defaults.append(("Strict-Transport-Security", "max-age=31536000"))
    no_store = ("Cache-Control", "no-store")

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        # One pass over the response's headers instead of a search per default
        # (werkzeug's Headers.setdefault scans the list each time).
        present = {name.lower() for name, _ in headers.items()}
        for name, value in defaults:
            if name.lower() not in present:
                headers.add(name, value)
        endpoint = request.endpoint or ""
        if (
            endpoint != "static"
            and not endpoint.endswith(".static")
            and "cache-control" not in present
        ):
            headers.add(*no_store)
        return response


def error_page(
    code: int, title: str, message: str, language: str = DEFAULT_LANGUAGE
) -> tuple[str, int]:
    """The host's error page: a heading saying what happened and a sentence saying what to do."""
    words = catalogue.domain("web")
    return render_template(
        "instrument/error.html",
        title=title,
        message=message,
        language=language,
        t=partial(words.text, language),
    ), code


def browser_language() -> str:
    """The language of a host page: the browser's choice among those we have words in.

    An error page or the home page knows no interview (it may be about a link
    that does not work), so it cannot take the interview's language.
    """
    ours = catalogue.languages()
    for tag, _quality in request.accept_languages:  # best first; cy-GB is cy
        base = tag.split("-")[0].lower()
        if base in ours:
            return base
    return DEFAULT_LANGUAGE


def install_error_pages(app: Flask) -> None:
    """Plain error pages: a person never sees a traceback or a framework's default page.

    The common errors get their own words (the interface texts' ``server``
    domain, in the browser's language); any other HTTP error (a header too
    long, a method the server does not know...) still gets this page, in
    Werkzeug's short name for it, rather than Werkzeug's bare one.
    """
    words = catalogue.domain("server")

    def page(code: int, title: str, message: str) -> Callable[[Exception], tuple[str, int]]:
        def handler(_error: Exception) -> tuple[str, int]:
            language = browser_language()
            return error_page(code, words(language, title), words(language, message), language)

        return handler

    def any_other(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error  # not an error (Flask hands redirects through untouched anyway)
        language = browser_language()
        title = error.name if language == DEFAULT_LANGUAGE else words(language, "error_title")
        return error_page(error.code, title, words(language, "error_body"), language)

    app.register_error_handler(HTTPException, any_other)

    for code, title, message in (
        (400, "error_title", "bad_request_body"),
        (403, "forbidden_title", "forbidden_body"),
        (404, "not_found_title", "not_found_body"),
        (405, "not_found_title", "method_body"),
        (413, "too_long_title", "too_long_body"),
        (429, "too_many_title", "too_many_body"),
        (500, "broken_title", "broken_body"),
    ):
        app.register_error_handler(code, page(code, title, message))
