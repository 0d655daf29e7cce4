"""Values of `[server]` that name peers and headers, checked at start (SPEC.md, TLS and mutual
TLS): a proxy address that parsed as nothing would trust nobody, or the wrong peer, silently."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.1: a field name


def _trusted_peer(value: str) -> str:
    """`*`, an IP address or a network (`10.0.0.0/8`), as uvicorn's proxy headers take them."""
    if value.strip() == "*":
        return "*"
    try:
        ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not *, an IP address or a network") from None
    return value.strip()


def _header_name(value: str) -> str:
    if value and not _TOKEN.fullmatch(value):
        raise ValueError(f"{value!r} is not a header name")
    return value


TrustedPeer = Annotated[str, AfterValidator(_trusted_peer)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
