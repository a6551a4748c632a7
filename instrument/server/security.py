"""Security plumbing shared by every blueprint of the host: headers and error pages.

The content security policy allows scripts, styles and images from this
server only, and no inline code at all: a fill that slipped past escaping
still could not run. Respondent pages are never cached, so the browser's back
button on a shared computer does not show the previous person's answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

__all__ = ["error_page", "install_error_pages", "install_headers"]

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


def error_page(code: int, title: str, message: str) -> tuple[str, int]:
    """The host's error page: a heading saying what happened and a sentence saying what to do."""
    return render_template("instrument/error.html", title=title, message=message), code


def install_error_pages(app: Flask) -> None:
    """Plain error pages: a person never sees a traceback or a framework's default page.

    The common errors get their own words; any other HTTP error (a header too
    long, a method the server does not know...) still gets this page, in
    Werkzeug's short name for it, rather than Werkzeug's bare one.
    """

    def page(code: int, title: str, message: str) -> Callable[[Exception], tuple[str, int]]:
        def handler(_error: Exception) -> tuple[str, int]:
            return error_page(code, title, message)

        return handler

    def any_other(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error  # not an error (Flask hands redirects through untouched anyway)
        return error_page(
            error.code,
            error.name,
            "The service could not answer this request. Go back, reload the page and try again.",
        )

    app.register_error_handler(HTTPException, any_other)

    app.register_error_handler(
        400,
        page(
            400,
            "Something went wrong",
            "The form could not be read. Go back, reload the page and try again.",
        ),
    )
    app.register_error_handler(
        403, page(403, "You cannot see this page", "You do not have access to this page.")
    )
    app.register_error_handler(
        404,
        page(
            404,
            "Page not found",
            "If you typed the web address, check it is correct. If you used a link, it may be out of date.",
        ),
    )
    app.register_error_handler(
        405, page(405, "Page not found", "This page cannot be used like that.")
    )
    app.register_error_handler(
        413,
        page(
            413,
            "What you sent is too long",
            "The page was sent with more text than this service accepts. Go back, shorten "
            "what you typed (or remove anything pasted into it) and try again.",
        ),
    )
    app.register_error_handler(
        429,
        page(
            429,
            "Too many attempts",
            "There were too many attempts from your connection. Wait a few minutes and try again.",
        ),
    )
    app.register_error_handler(
        500,
        page(
            500,
            "Sorry, there is a problem with the service",
            "Try again later. Your answers up to the last page you completed are saved.",
        ),
    )
