"""The exceptions mpc_comm raises where the reference would raise its own or fail silently."""

from __future__ import annotations

import aiohttp

from . import _engine

#: A message could not be delivered: its retries ran out, the peer refused it (409, 413, 400), or
#: the pool shut down first. The reference drops such a message silently; the engine says so.
DeliveryError = _engine.DeliveryError

#: The engine was asked for something that cannot work (a name or certificate taken twice, an
#: address that does not resolve, an unusable certificate file). A ValueError.
ConfigurationError = _engine.ConfigurationError


class CertificateError(aiohttp.ClientConnectorCertificateError):
    """
    The TLS handshake with a peer failed for good: a certificate was refused (the peer's by us, or
    ours by the peer), or the peer does not speak TLS. A subclass of the aiohttp error that the
    reference raises in these cases, so that programs catching that error still do.
    """

    def __init__(self, message: str) -> None:  # pylint: disable=super-init-not-called
        # aiohttp's own constructor wants a connection key that the engine does not have.
        Exception.__init__(self, message)
        self._message = message

    def __str__(self) -> str:
        return self._message

    @property
    def certificate_error(self) -> Exception:  # type: ignore[override]
        return ConnectionError(self._message)
