"""An incident report bundle as one self-contained HTML page for people to read.

No scripts, no external assets; every piece of text from the bundle is HTML-escaped, because
descriptions and message bodies are whatever a party typed. The JSON file beside it is what
proves anything; this page says how to check it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #111; max-width: 72em; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #eee; }
pre, .text { white-space: pre-wrap; font-family: monospace; margin: 0; }
.muted { color: #555; }
"""


def _text(value: Any) -> str:
    """Any value as escaped text ("—" for nothing)."""
    return "—" if value is None or value == "" else escape(str(value), quote=True)


def utc(instant: str | None) -> str:
    """An RFC 3339 instant as `YYYY-MM-DD HH:MM:SS UTC`; anything else as given."""
    if not instant:
        return "—"
    try:
        moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _details(content: Any) -> str:
    """What a timeline item's content says, in short: a message's body, a notification's title,
    a report's description, a finding."""
    if not isinstance(content, dict):
        return ""
    for name in ("body", "title", "description", "finding"):
        if isinstance(content.get(name), str):
            return f'<div class="text">{_text(content[name])}</div>'
    return ""


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"<tr><th>{escape(name)}</th><td>{value}</td></tr>" for name, value in pairs)


def _incident(incident: dict[str, Any]) -> str:
    def parties(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"{_text(p.get('code'))} ({_text(p.get('name'))})" for p in items)

    links = [
        f"{label}: {', '.join(_text(i) for i in incident.get(name) or []) or '—'}"
        for label, name in (
            ("notifications", "notification_ids"),
            ("conflicts", "conflict_ids"),
            ("messages", "message_ids"),
        )
    ]
    return _rows(
        [
            ("incident", _text(incident.get("id"))),
            ("kind", _text(incident.get("kind"))),
            ("state", _text(incident.get("state"))),
            ("occurred at", _text(utc(incident.get("occurred_at")))),
            ("reported at", _text(utc(incident.get("reported_at")))),
            ("reporter", parties([incident.get("reporter") or {}])),
            ("parties involved", parties(incident.get("involved_parties") or [])),
            ("links", "<br>".join(links)),
            ("description", f'<div class="text">{_text(incident.get("description"))}</div>'),
            ("reviewed at", _text(utc(incident.get("reviewed_at")))),
            ("closed at", _text(utc(incident.get("closed_at")))),
            ("finding", f'<div class="text">{_text(incident.get("finding"))}</div>'),
        ]
    )


def _timeline(items: list[dict[str, Any]]) -> str:
    rows = "\n".join(
        "<tr>"
        f"<td>{_text(utc(item.get('at')))}</td>"
        f"<td>{_text(item.get('kind'))}</td>"
        f"<td>{_text(item.get('summary'))}{_details(item.get('content'))}</td>"
        f"<td>{_text(item.get('leaf_index'))}</td>"
        "</tr>"
        for item in items
    )
    return (
        "<table><tr><th>time (UTC)</th><th>kind</th><th>what happened</th>"
        f"<th>leaf index</th></tr>\n{rows}</table>"
    )


def render(bundle: dict[str, Any], json_name: str) -> str:
    """The page for a report bundle saved as `json_name`."""
    incident = bundle.get("incident") or {}
    head = (bundle.get("tree_heads") or [{}])[0]
    head_rows = _rows(
        [
            ("log", _text(head.get("log_id") or "(unnamed)")),
            ("tree size", _text(head.get("tree_size"))),
            ("root hash", _text(head.get("root_hash"))),
            ("signed at", _text(utc(head.get("timestamp")))),
            ("key id", _text(head.get("key_id"))),
        ]
    )
    title = f"Incident {_text(incident.get('id'))}"
    name = _text(json_name)
    truncated = (
        "<p><strong>The timeline was cut at the service's limit; ask the operator for the rest."
        "</strong></p>"
        if bundle.get("truncated")
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{title}</h1>
<p class="muted">Report generated {_text(utc(bundle.get("generated_at")))} by the deconfliction
service. Acknowledged means received and read, never approval.</p>
<table>
{_incident(incident)}
</table>
<h2>Timeline</h2>
<p class="muted">Every log entry the holder of this report may see about the incident and what
it links, in log order.</p>
{truncated}
{_timeline(bundle.get("timeline") or [])}
<h2>How to verify</h2>
<p>The file <code>{name}</code> holds, for every line above, the log entry, its salt and an
inclusion proof against one tree head signed by the service:</p>
<table>
{head_rows}
</table>
<ol>
<li>Obtain the service's public key through a channel you trust and check that its key id is the
one above.</li>
<li>Run <code>deconfliction receipt verify {name} --key KEY</code>: it checks each entry's leaf
hash, its inclusion proof and the head's signature.</li>
<li>Where a line carries content (a message, a notification version, the report, the finding),
its RFC 8785 canonical JSON hashes (SHA-256) to the entry's <code>content_sha256</code>.</li>
</ol>
</body>
</html>
"""
