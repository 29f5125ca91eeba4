"""Which addresses are this machine's.

>>> [is_loopback(h) for h in ("localhost", "127.0.0.1", "::1", "::ffff:127.0.0.1")]
[True, True, True, True]
>>> [is_loopback(h) for h in ("10.0.0.7", "::ffff:10.0.0.7", "testclient", None)]
[False, False, False, False]
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """Is ``host`` this machine: ``localhost`` or a loopback address (an IPv4 one mapped into
    IPv6 included, as a server bound to ``::`` sees its IPv4 clients)? A client on loopback
    needs no proxy, no compression, and may share memory; a server exempts it from the
    per-client session limit."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
