"""A real Prometheus scraping a real server with deploy/prometheus.yml, and the dashboard's queries.

The Prometheus binary comes from Debian's ``prometheus`` package (``scripts/ensure-tools.sh`` installs it);
a missing binary fails the test rather than skipping it, so a green run always means it really scraped.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from metrics_helpers import ENV, convert_sample, families, scrape
from nwbagent.server.metrics import METRIC_FAMILIES
from server_helpers import REPO, Client, Server, free_port

PROMETHEUS = Path("/usr/bin/prometheus")
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "nwbagent.json"

#: PromQL words that are not metric names (functions are recognized by the "(" that follows them).
_PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset",
    "bool", "inf", "nan", "le",
}  # fmt: skip
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("scraped"), ENV, process=True).start()
    yield srv
    srv.stop()


@contextlib.contextmanager
def prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Prometheus on a free port with the shipped config, retargeted at ``target`` and scraping every 1 s."""
    if not PROMETHEUS.exists():
        pytest.fail(
            f"{PROMETHEUS} is missing: install Debian's prometheus package (scripts/ensure-tools.sh does).",
            pytrace=False,
        )
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    job["static_configs"] = [{"targets": [target]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus not ready in 20 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_prometheus_scrapes_a_conversion(server: Server, tmp_path: Path) -> None:
    with prometheus(tmp_path, f"127.0.0.1:{server.port}") as url:
        client = Client(server.base_url)
        sid, _ = client.new_session()
        convert_sample(client, sid)
        client.close()

        deadline = time.monotonic() + 30
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            result = _query(url, "sum(conversion_requests_total)")
            if result and float(result[0]["value"][1]) >= 1:
                break
            time.sleep(0.5)
        else:
            targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()
            pytest.fail(
                f"Prometheus never saw a conversion in 30 s: {result}; targets: {json.dumps(targets)}"
            )

        (target,) = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        assert target["health"] == "up", target
        assert _query(url, 'up{job="nwbagent"}')[0]["value"][1] == "1"
        # Every dashboard query is valid PromQL to this Prometheus (a typo would be a 400 here).
        for expr in _dashboard_exprs():
            _query(url, expr)


def test_dashboard_queries_name_only_exported_metrics(server: Server) -> None:
    exported = families(scrape(server.base_url))
    assert exported >= METRIC_FAMILIES
    used: dict[str, str] = {}
    for expr in _dashboard_exprs():
        for name in metric_names(expr):
            used[name] = expr
    unknown = {name: expr for name, expr in used.items() if _family(name) not in exported}
    assert not unknown, f"dashboard queries name metrics /metrics does not export: {unknown}"
    # And the dashboard shows what the issue asks for.
    assert {
        "http_requests", "conversion_duration_seconds", "conversion_requests", "active_sessions",
        "llm_api_calls", "llm_tokens", "jobs_queued", "jobs_running", "file_upload_size_bytes",
    } <= {_family(name) for name in used}  # fmt: skip


def test_metric_name_parsing() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!="/x"}'
        "[5m]))) / ignoring(job) active_sessions and on (instance) jobs_queued offset 5m"
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "active_sessions", "jobs_queued"}


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    return exprs


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords or label names."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range and subquery durations
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\boffset\s+\w+", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", expr):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in _PROMQL_WORDS:
            names.add(name)
    return names


def _family(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
