"""Discovery documents served by the emulator, and the route table derived from them.

v2 comes from the installed google-api-python-client (so paths are exactly the client's). The
v2.1 document that still has ``orders`` only shipped up to google-api-python-client 2.100.0; a
trimmed copy (orders, orderreturns get/list, accounts authinfo/get and the schemas they reference)
is vendored in ``data/content.v2.1.json``.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any

# URL label → (document version, sandbox?). The sandbox twins serve the same document with a
# different servicePath so clients that build from discovery call the sandbox base URL.
LABELS: dict[str, tuple[str, bool]] = {
    "v2": ("v2", False),
    "v2sandbox": ("v2", True),
    "v2.1": ("v2.1", False),
    "v2.1sandbox": ("v2.1", True),
}
# The order resources of the documents (v2.1's vendored copy has only the first three).
RESOURCES = ("orders", "orderreturns", "accounts", "orderinvoices", "orderreports")


@functools.cache
def load_document(version: str) -> dict[str, Any]:
    if version == "v2":
        import googleapiclient

        path = resources.files(googleapiclient) / "discovery_cache" / "documents" / "content.v2.json"
    elif version == "v2.1":
        path = resources.files("sync.sandbox.google") / "data" / "content.v2.1.json"
    else:
        raise KeyError(version)
    return json.loads(path.read_text(encoding="utf-8"))


_rendered: dict[tuple[str, str], bytes] = {}
_rendered_lock = threading.Lock()


def render(label: str, root_url: str) -> bytes:
    """The document for ``label`` with rootUrl/servicePath pointing at this emulator."""
    key = (label, root_url)
    with _rendered_lock:
        cached = _rendered.get(key)
    if cached is not None:
        return cached
    version, _sandbox = LABELS[label]
    doc = dict(load_document(version))  # shallow: only top-level keys change
    service_path = f"content/{label}/"
    doc.update(
        rootUrl=root_url,
        mtlsRootUrl=root_url,
        servicePath=service_path,
        basePath=f"/{service_path}",
        baseUrl=root_url + service_path,
    )
    body = json.dumps(doc).encode()
    with _rendered_lock:
        if len(_rendered) > 64:  # hosts differ only by Host header; keep the cache bounded
            _rendered.clear()
        _rendered[key] = body
    return body


@dataclass(frozen=True)
class Route:
    http_method: str
    pattern: tuple[str | None, ...]  # literal segment, or None for a variable
    names: tuple[str, ...]  # variable names in order
    resource: str
    method: str  # discovery method name, e.g. "shiplineitems"
    method_id: str  # e.g. "content.orders.shiplineitems"
    response_ref: str | None


@functools.cache
def routes(version: str) -> dict[tuple[str, int], list[Route]]:
    """(HTTP method, segment count) → candidate routes, most literal first."""
    doc = load_document(version)
    table: dict[tuple[str, int], list[Route]] = {}
    for res in RESOURCES:
        for name, m in doc["resources"].get(res, {}).get("methods", {}).items():
            if res == "accounts" and name not in ("authinfo", "get"):
                continue
            pattern: list[str | None] = []
            names: list[str] = []
            for seg in m["path"].split("/"):
                if seg.startswith("{") and seg.endswith("}"):
                    pattern.append(None)
                    names.append(seg[1:-1].lstrip("+"))
                else:
                    pattern.append(seg)
            route = Route(
                m["httpMethod"],
                tuple(pattern),
                tuple(names),
                res,
                name.lower(),
                m["id"],
                (m.get("response") or {}).get("$ref"),
            )
            table.setdefault((route.http_method, len(pattern)), []).append(route)
    for candidates in table.values():
        candidates.sort(key=lambda r: len(r.names))
    return table


def match(version: str, http_method: str, segments: list[str]) -> tuple[Route, dict[str, str]] | None:
    for route in routes(version).get((http_method, len(segments)), ()):
        if all(p is None or p == s for p, s in zip(route.pattern, segments, strict=True)):
            values = [s for p, s in zip(route.pattern, segments, strict=True) if p is None]
            return route, dict(zip(route.names, values, strict=True))
    return None
