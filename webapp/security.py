"""What every response says about itself to the browser, which Host names the web answers to, and which proxy's
word on the client's address and scheme is believed.

The pages run no inline script or style: the Content-Security-Policy allows only this site's own files, so text a
job or user wrote can never run as script even if it slipped through escaping. Files a job wrote carry their own,
stricter policy (webapp.downloads) and keep it.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import WebConfig

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask, config: WebConfig) -> None:
    """Trusted hosts (another Host gets 400), the proxy's X-Forwarded-* when one is configured, security headers."""
    app.config["TRUSTED_HOSTS"] = list(config.trusted_hosts)
    if config.proxy_count > 0:
        n = config.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    app.after_request(add_security_headers)
    app.register_error_handler(SecurityError, untrusted_host)


def untrusted_host(_exc: SecurityError) -> tuple[Response, int]:
    """400 without a page: the site's pages build links from the Host, and this one is not to be echoed anywhere."""
    message = "this server does not answer to that host name (LABQUEUE_TRUSTED_HOSTS)"
    if request.path.startswith("/api/"):
        return jsonify(error="untrusted_host", message=message), 400
    return Response(message + "\n", 400, mimetype="text/plain"), 400


def add_security_headers(response: Response) -> Response:
    """nosniff and a Referrer-Policy on everything (downloads and the log included); the page policy on HTML;
    HSTS once the request came over HTTPS (directly, or through the configured proxy)."""
    for name, value in COMMON_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response
