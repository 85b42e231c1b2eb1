"""The http-client handler: ``theater:simple/http-client#send-http`` (upstream's
signature), real requests through httpx.

Settings (docs/http.md): ``allowed_hosts`` (deny by default: a list of ``host``,
``host:port`` or ``*.domain``), ``timeout`` (seconds, default 30), ``max_response_bytes``
(default 10 MiB), ``follow_redirects`` (default false) and ``max_redirects`` (default
5; every hop's host must be allowed too), ``redact_headers`` and ``redact_env`` (the
secrets: theater/redact.py), ``salt`` (hex; random per recording when absent).

A request the settings refuse (a host not allowed, a scheme other than http/https)
returns ``err`` without opening a socket; so do a timeout, a connection failure and a
response over the size limit (the body is read in chunks and dropped at the limit).
The request is sent as the actor wrote it: httpx's default headers (user-agent,
accept-encoding, ...) are removed, and the response body is handed over undecoded, as
the server sent it, with its own headers. The boundary records the whole request and
response; replay never builds this handler, so it never opens a socket.
"""

from __future__ import annotations

import os
from typing import Any

from wasmtime.component import Record

from ..errors import HttpLimit, ManifestError
from . import Handler, LiveFn

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RESPONSE = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def host_allowed(patterns: list[str], host: str, port: int | None) -> bool:
    """Whether ``host`` (lower-case) at ``port`` matches one of ``patterns``."""
    for p in patterns:
        p = p.lower()
        want_port: int | None = None
        if p.startswith("["):  # [::1]:8080
            end = p.find("]")
            name, rest = p[1:end], p[end + 1:]
            if rest.startswith(":") and rest[1:].isdigit():
                want_port = int(rest[1:])
        else:
            name, _, port_s = p.partition(":")
            if port_s.isdigit():
                want_port = int(port_s)
        if want_port is not None and want_port != port:
            continue
        if name == host or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


class HttpClientHandler(Handler):
    type = "http-client"
    interfaces = {"theater:simple/http-client": ("send-http",), "wasi:http/outgoing-handler": ("handle",)}
    settings_schema = {
        "allowed_hosts": list, "timeout": (int, float), "max_response_bytes": int,
        "follow_redirects": bool, "max_redirects": int, "redact_headers": list, "redact_env": list,
        "salt": str,
    }

    def __init__(self, config: Any, manifest: Any) -> None:
        super().__init__(config, manifest)
        s = config.settings
        where = f"{manifest.path}: handler[{config.index}] (http-client)"
        for key in ("allowed_hosts", "redact_headers", "redact_env"):
            if not all(isinstance(x, str) and x for x in s.get(key, [])):
                raise ManifestError(f"{where}: `{key}` must be a list of non-empty strings")
        self.allowed: list[str] = list(s.get("allowed_hosts", []))
        self.timeout = float(s.get("timeout", DEFAULT_TIMEOUT))
        self.max_bytes = int(s.get("max_response_bytes", DEFAULT_MAX_RESPONSE))
        self.follow = bool(s.get("follow_redirects", False))
        self.max_redirects = int(s.get("max_redirects", DEFAULT_MAX_REDIRECTS))
        if not self.timeout > 0 or self.max_bytes <= 0 or self.max_redirects < 0:
            raise ManifestError(f"{where}: `timeout` and `max_response_bytes` must be positive, "
                                "`max_redirects` at least 0")
        self.redact_headers = [h.lower() for h in s.get("redact_headers", [])]
        self.redact_env = list(s.get("redact_env", []))
        salt = s.get("salt")
        if salt is None:
            salt = os.urandom(16).hex()
        else:
            try:
                if len(bytes.fromhex(salt)) < 8:
                    raise ValueError
            except ValueError:
                raise ManifestError(f"{where}: `salt` must be at least 8 bytes of hex") from None
        self.salt: str = salt
        self._client: Any = None

    def header_settings(self) -> dict[str, Any]:
        return {**self.config.to_json(), "salt": self.salt}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False)
            self._client.headers.clear()  # send what the actor wrote, nothing of httpx's own
        return self._client

    # -- the live function --------------------------------------------------------

    def send_http(self, store: Any, req: Any) -> Any:
        """``send-http(req) -> result<http-response, string>``: a Record, or an err str."""
        import httpx

        method, url = str(req.method), str(req.uri)
        headers: list[tuple[str, str]] = [(str(k), str(v)) for k, v in req.headers]
        body: bytes | None = None if req.body is None else bytes(req.body)
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as e:
            return f"invalid uri {url!r}: {e}"
        for hop in range(self.max_redirects + 1):
            refused = self._refuse(target)
            if refused is not None:
                return refused if hop == 0 else f"redirect to {target}: {refused}"
            try:
                out = self._send(method, target, headers, body)
            except httpx.TimeoutException:
                return f"timed out after {self.timeout:g} s: {method} {target}"
            except HttpLimit:
                return f"response larger than max_response_bytes ({self.max_bytes}): {method} {target}"
            except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as e:
                return f"request failed: {method} {target}: {type(e).__name__}: {e}"
            status, rheaders, rbody, location = out
            if not (self.follow and status in _REDIRECTS and location is not None):
                rec = Record()
                for name, value in (("status", status), ("headers", rheaders), ("body", rbody)):
                    setattr(rec, name, value)  # a WIT record is a plain attribute bag in wasmtime-py
                return rec
            nxt = target.join(location)
            if nxt.host != target.host:  # never carry credentials to another host
                headers = [(k, v) for k, v in headers if k.lower() not in ("authorization", "cookie")]
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
                headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "content-type")]
            target = nxt
        return f"more than max_redirects ({self.max_redirects}) redirects"

    def _refuse(self, url: Any) -> str | None:
        if url.scheme not in ("http", "https"):
            return f"scheme {url.scheme!r} not allowed (http and https only)"
        port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
        if not host_allowed(self.allowed, url.host.lower(), port):
            listed = ", ".join(self.allowed) or "none: every host is denied by default"
            return f"host not allowed: {url.host}:{port} (allowed_hosts: {listed})"
        return None

    def _send(self, method: str, url: Any, headers: list[tuple[str, str]],
              body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes, str | None]:
        client = self.client()
        request = client.build_request(method, url, headers=headers, content=body)
        response = client.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_raw():
                size += len(chunk)
                if size > self.max_bytes:
                    raise HttpLimit(502, "response over max_response_bytes")
                chunks.append(chunk)
        finally:
            response.close()
        raw_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
        return response.status_code, raw_headers, b"".join(chunks), response.headers.get("location")

    def connect(self, handlers: list[Handler]) -> None:
        """``wasi:http/outgoing-handler`` requests (theater/wasihttp.py) go out through
        :meth:`send_wasi`, when the wasi-http handler is granted too."""
        for h in handlers:
            state = getattr(h, "local_state", None)
            if h.type == "wasi-http" and state is not None:
                state.outgoing = self.send_wasi

    def send_wasi(self, args: dict[str, Any]) -> dict[str, Any]:
        """One wasi:http outgoing request, as recorded (``{"req": http-request}`` in the
        canonical form of ``send-http``'s): ``{"ok": http-response}``, or ``{"err":
        error-code, "message": why}`` for what ``send-http`` answers ``err``."""
        from types import SimpleNamespace

        from ..canonical import decode_tagged_bytes, encode_tagged_bytes

        req = args["req"]
        body = None if req.get("body") is None else decode_tagged_bytes(req["body"]["some"])
        out = self.send_http(None, SimpleNamespace(method=req["method"], uri=req["uri"],
                                                   headers=[tuple(h) for h in req["headers"]], body=body))
        if isinstance(out, str):
            return {"err": _error_code(out), "message": out}
        return {"ok": {"status": out.status, "headers": [list(h) for h in out.headers],
                       "body": {"some": encode_tagged_bytes(out.body)}}}

    def functions(self) -> dict[str, dict[str, LiveFn]]:
        return {"theater:simple/http-client": {"send-http": self.send_http}}


def _error_code(message: str) -> dict[str, Any]:
    """The wasi:http ``error-code`` of a ``send-http`` error message."""
    for prefix, case in (("host not allowed", "HTTP-request-denied"), ("scheme ", "HTTP-request-denied"),
                         ("redirect to", "HTTP-request-denied"), ("invalid uri", "HTTP-request-URI-invalid"),
                         ("timed out", "connection-timeout"), ("response larger", "HTTP-response-body-size"),
                         ("more than max_redirects", "loop-detected")):
        if message.startswith(prefix):
            return {"case": case, "value": None}
    if "ConnectError" in message:
        return {"case": "connection-refused", "value": None}
    return {"case": "internal-error", "value": {"some": message}}
