"""HttpOptions: how uvicorn serves the app (vLLM's --uvicorn-log-level, --ssl-*,
--disable-uvicorn-access-log and --root-path flags).

`paste serve` and BackgroundServer hand the same `uvicorn_kwargs()` to uvicorn, so what a test
checks through a BackgroundServer is what `paste serve` runs. TLS needs the key and the
certificate together; every file named must be readable at start (a typed error naming the
flag otherwise, before the model loads).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

from paste.errors import InvalidArgumentError

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_CERT_REQS = {int(ssl.CERT_NONE), int(ssl.CERT_OPTIONAL), int(ssl.CERT_REQUIRED)}


def _readable(path: str, flag: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {flag} {path!r}: {exc.strerror}") from None


@dataclass(frozen=True)
class HttpOptions:
    """log_level: uvicorn's log level. ssl_keyfile / ssl_certfile: serve HTTPS with this key
    and certificate (PEM). ssl_ca_certs: CA certificates clients' certificates are checked
    against; ssl_cert_reqs: whether a client certificate is needed (ssl.CERT_NONE 0 |
    CERT_OPTIONAL 1 | CERT_REQUIRED 2, vLLM's --ssl-cert-reqs). access_log: log a line per
    request (uvicorn's access log; vLLM's --disable-uvicorn-access-log turns it off).
    root_path: the path prefix a reverse proxy serves the API under and strips before
    forwarding, e.g. "/paste": the URLs the API generates (the OpenAPI docs) and the access
    log carry it; "" or a path starting with "/" and not ending with one."""

    log_level: str = "info"
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None
    ssl_ca_certs: str | None = None
    ssl_cert_reqs: int = int(ssl.CERT_NONE)
    access_log: bool = True
    root_path: str = ""

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise InvalidArgumentError(
                f"--uvicorn-log-level must be one of {', '.join(LOG_LEVELS)}, got "
                f"{self.log_level!r}")
        if (self.ssl_keyfile is None) != (self.ssl_certfile is None):
            raise InvalidArgumentError("--ssl-keyfile and --ssl-certfile go together (HTTPS "
                                       "needs the key and its certificate)")
        if self.ssl_cert_reqs not in _CERT_REQS:
            raise InvalidArgumentError(
                f"--ssl-cert-reqs must be 0 (none), 1 (optional) or 2 (required), got "
                f"{self.ssl_cert_reqs}")
        if self.ssl_keyfile is None and (self.ssl_ca_certs is not None or self.ssl_cert_reqs):
            raise InvalidArgumentError("--ssl-ca-certs and --ssl-cert-reqs need --ssl-keyfile "
                                       "and --ssl-certfile")
        if self.ssl_cert_reqs == int(ssl.CERT_REQUIRED) and self.ssl_ca_certs is None:
            raise InvalidArgumentError("--ssl-cert-reqs 2 (client certificates required) needs "
                                       "--ssl-ca-certs to check them against")
        if self.root_path and (not self.root_path.startswith("/")
                               or self.root_path.endswith("/")):
            raise InvalidArgumentError(
                f"--root-path must start with '/' and not end with one (e.g. /paste), got "
                f"{self.root_path!r}")
        for path, flag in ((self.ssl_keyfile, "--ssl-keyfile"),
                           (self.ssl_certfile, "--ssl-certfile"),
                           (self.ssl_ca_certs, "--ssl-ca-certs")):
            if path is not None:
                _readable(path, flag)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_certfile else "http"

    def uvicorn_kwargs(self) -> dict[str, Any]:
        """uvicorn.run / uvicorn.Config keyword arguments."""
        return {"log_level": self.log_level, "ssl_keyfile": self.ssl_keyfile,
                "ssl_certfile": self.ssl_certfile, "ssl_ca_certs": self.ssl_ca_certs,
                "ssl_cert_reqs": self.ssl_cert_reqs, "access_log": self.access_log,
                "root_path": self.root_path}
