"""``REDIS_URL``: one Redis, one over TLS, or a set of Sentinels that name the current primary.

- ``redis://[user:password@]host[:port][/db]``
- ``rediss://...`` TLS, the certificate checked against the CA *and* the host name (arq checks
  no host name unless told); ``?ssl_ca_certs=/path/ca.pem`` trusts a private CA
- ``redis+sentinel://[:password@]host:26379[,host2:26379...]/<primary name>[/db]``, and
  ``rediss+sentinel://`` for the same over TLS

Anything else in the URL is refused with the variable's name rather than silently dropped.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from arq.connections import RedisSettings

_QUERY = {"ssl_ca_certs"}


class RedisUrlError(ValueError):
    """The URL cannot be used; the message never repeats the URL (it may hold a password)."""


def parse_redis_url(url: str) -> RedisSettings:
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in ("redis", "rediss", "redis+sentinel", "rediss+sentinel"):
        raise RedisUrlError("must start with redis://, rediss://, redis+sentinel:// or "
                            "rediss+sentinel://")
    query = parse_qs(parts.query, strict_parsing=False)
    unknown = sorted(set(query) - _QUERY)
    if unknown:
        raise RedisUrlError(f"unknown option {unknown[0]!r} (known: {', '.join(sorted(_QUERY))})")
    tls = scheme.startswith("rediss")
    ca = query.get("ssl_ca_certs", [None])[0]
    if ca and not tls:
        raise RedisUrlError("ssl_ca_certs needs a rediss:// URL")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    path = [p for p in parts.path.split("/") if p]
    common = {
        "username": unquote(username) or None,
        "password": unquote(password) or None,
        "ssl": tls,
        "ssl_ca_certs": ca,
        "ssl_check_hostname": tls,
    }
    if scheme.endswith("+sentinel"):
        if not path:
            raise RedisUrlError("a Sentinel URL names the primary: .../<name>[/db]")
        return RedisSettings(host=[_host_port(h, 26379) for h in hosts.split(",")],
                             sentinel=True, sentinel_master=unquote(path[0]),
                             database=_database(path[1:]), **common)  # type: ignore[arg-type]
    host, port = _host_port(hosts, 6379)
    return RedisSettings(host=host, port=port, database=_database(path), **common)  # type: ignore[arg-type]


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [::1]:6379
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    if not host:
        raise RedisUrlError("names no host")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisUrlError("has a port that is not a number from 1 to 65535")
    return host, int(port)


def _database(path: list[str]) -> int:
    if not path:
        return 0
    if len(path) > 1 or not path[0].isdigit():
        raise RedisUrlError("the database after the host must be a number")
    return int(path[0])
