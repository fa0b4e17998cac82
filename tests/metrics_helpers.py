"""What both metrics test modules need: a sample conversion through the API, and reading /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from server_helpers import Client

DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."


#: Test servers run without request limits: a test polls status faster than any person would.
ENV = {"NWBAGENT_RATE_LIMITS_ENABLED": "false"}


def convert_sample(
    client: Client, sid: str, while_converting: Callable[[], object] | None = None
) -> dict[str, object]:
    """The bundled Neuropixels sample from source to a passed inspection; the final status.

    ``while_converting`` is called over and over from the convert request until the session settles.
    """
    r = client.http.post(f"/api/sessions/{sid}/source", json={"sample": "neuropixels"})
    assert r.status_code in (200, 202), r.text
    client.wait_for(sid, {"collecting_metadata"})
    r = client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})
    assert r.status_code in (200, 202), r.text
    client.wait_for(sid, {"ready"})
    r = client.http.post(f"/api/sessions/{sid}/actions/convert")
    assert r.status_code in (200, 202), r.text
    deadline = time.monotonic() + 120
    while while_converting is not None and time.monotonic() < deadline:
        while_converting()
        status = client.status(sid)
        if status["state"] not in ("ready", "converting") and not status["busy"]:
            break
        time.sleep(0.05)
    status = client.wait_for(sid, {"passed", "passed_with_issues"})
    assert status["job"]["status"] == "succeeded", status
    return status


def scrape(base_url: str) -> str:
    r = httpx.get(f"{base_url}/metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain"), r.headers
    return r.text


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by (sample name, labels)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, le: float | None = None, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0.0 when there are none).

    ``le`` is compared as a number: the exposition writes 5000000.0 as "5e+06".
    """
    want = set(labels.items())
    total = 0.0
    for (n, ls), v in samples(text).items():
        if n == name and want <= ls and (le is None or float(dict(ls)["le"]) == le):
            total += v
    return total


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}
