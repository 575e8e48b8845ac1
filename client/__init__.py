"""labqueue's client for researchers: the ``labqueue`` command and an HTTP client of the REST API for scripts.

It needs nothing but the standard library and ``requests`` (a unit test holds it to that), the server's URL and
an API token, so it installs alone on a laptop: ``pip install ./client``.
"""

from client.api import Client, ClientConfig, ClientError

__all__ = ["Client", "ClientConfig", "ClientError"]
