"""What a session may read (issue #13 items 1 and 4): symbolic links under a source that leave its root,
and the service's own data folder inside a data root, on real folders and a real server process."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nwbagent.server.sources import Root, check_source
from nwbagent.server.upload_rules import UploadRejected
from server_helpers import Client, Server

DESCRIPTION = "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1."
SPIKEGLX = "spikeglx/TEST_20210920_0_g0"
SECRET = b"TOP-SECRET-BYTES-" * 1000


def _refused(source: Path, root: Root) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        check_source(source.resolve(), root, max_entries=10_000)
    return info.value


# ---- the walk itself ---------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path, Root]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "run_g0" / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.bin").write_bytes(SECRET)
    (root / "run_g0" / "x.meta").write_text("k=v\n")
    (root / "data" / "sessions" / "other").mkdir(parents=True)
    return root, outside, Root.of(root, "ROOT", forbidden=[(root / "data" / "sessions").resolve()])


def test_links_that_stay_inside_the_root_are_fine(tree: tuple[Path, Path, Root]) -> None:
    root, _, r = tree
    (root / "shared.bin").write_bytes(b"x")
    (root / "run_g0" / "x.bin").symlink_to(root / "shared.bin")
    (root / "run_g0" / "sub" / "up").symlink_to(root / "run_g0")  # a cycle: walked once
    (root / "run_g0" / "dangling").symlink_to(root / "missing.bin")
    check_source((root / "run_g0").resolve(), r, max_entries=1000)


@pytest.mark.parametrize("kind", ["file", "folder", "chain", "nested"])
def test_links_leaving_the_root_are_refused_without_saying_where(
    tree: tuple[Path, Path, Root], kind: str
) -> None:
    root, outside, r = tree
    run = root / "run_g0"
    if kind == "file":
        (run / "x_g0_t0.imec0.ap.bin").symlink_to(outside / "secret.bin")
        name = "run_g0/x_g0_t0.imec0.ap.bin"
    elif kind == "folder":
        (run / "evil_dir").symlink_to(outside)
        name = "run_g0/evil_dir"
    elif kind == "chain":  # a link inside the root to a link that leaves it
        (root / "hop").symlink_to(outside / "secret.bin")
        (run / "x.bin").symlink_to(root / "hop")
        name = "run_g0/x.bin"
    else:  # inside a folder reached through a link that itself stays inside
        (root / "elsewhere").mkdir()
        (root / "elsewhere" / "deep.bin").symlink_to(outside / "secret.bin")
        (run / "sub" / "via").symlink_to(root / "elsewhere")
        name = "elsewhere/deep.bin"
    err = _refused(run, r)
    assert (err.status_code, err.error) == (403, "link_outside_root")
    assert repr(name) in err.message and "ROOT" in err.message
    assert str(outside) not in err.message + err.hint


def test_the_services_own_folders_are_never_a_source(tree: tuple[Path, Path, Root]) -> None:
    root, _, r = tree
    for source in (root / "data" / "sessions" / "other", root / "data", root):
        err = _refused(source, r)
        assert (err.status_code, err.error) == (403, "path_not_allowed")
        assert "own files" in err.message
    (root / "run_g0" / "peek").symlink_to(root / "data" / "sessions")
    err = _refused(root / "run_g0", r)
    assert "links into" in err.message and "'run_g0/peek'" in err.message


def test_a_tree_too_large_to_check_is_refused(tree: tuple[Path, Path, Root]) -> None:
    root, _, r = tree
    for i in range(30):
        (root / "run_g0" / f"f{i}").write_bytes(b"")
    with pytest.raises(UploadRejected) as info:
        check_source((root / "run_g0").resolve(), r, max_entries=20)
    assert (info.value.status_code, info.value.error) == (413, "source_too_large")


# ---- through the API -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, Path]]:
    """A server whose data dir lies inside its only data root (item 4), and a secret outside the root."""
    base = tmp_path_factory.mktemp("sources")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.bin").write_bytes(SECRET)
    (outside / "dir").mkdir()
    (outside / "dir" / "secret.bin").write_bytes(SECRET)
    srv = Server(root / "data", {"NWBAGENT_DATA_ROOTS": json.dumps([str(root)])}).start()
    yield srv, root, outside
    srv.stop()


@pytest.fixture
def client(world: tuple[Server, Path, Path]) -> Iterator[Client]:
    c = Client(world[0].base_url)
    yield c
    c.close()


def _spikeglx_run(folder: Path, ephy: Path) -> Path:
    """A SpikeGLX run named like the issue's repro, from the real test recording."""
    folder.mkdir(parents=True)
    src = ephy / SPIKEGLX
    shutil.copy(src / "TEST_20210920_0_g0_t0.imec0.ap.meta", folder / "x_g0_t0.imec0.ap.meta")
    return folder / "x_g0_t0.imec0.ap.bin"


def test_exfiltration_through_a_link_is_refused(
    world: tuple[Server, Path, Path], client: Client, ephy_data: Path
) -> None:
    """The issue's repro: a .meta and beside it the .bin as a link to a file outside the root."""
    server, root, outside = world
    _spikeglx_run(root / "exfil_g0", ephy_data).symlink_to(outside / "secret.bin")
    (root / "evil_dir").symlink_to(outside / "dir")
    (root / "holder").mkdir()
    (root / "holder" / "evil_dir").symlink_to(outside / "dir")
    sid, _ = client.new_session()
    for path, status in (("exfil_g0", 403), ("evil_dir", 403), ("holder", 403)):
        r = client.http.post(f"/api/sessions/{sid}/source", json={"path": path})
        assert r.status_code == status, r.text
        body = r.json()
        assert body["error"] in ("link_outside_root", "path_not_allowed"), body
        assert str(outside) not in r.text
    r = client.http.post(f"/api/sessions/{sid}/source", json={"path": "exfil_g0"})
    assert "'exfil_g0/x_g0_t0.imec0.ap.bin'" in r.json()["message"]
    assert client.status(sid)["state"] == "created"  # nothing was detected, nothing read
    assert not any(SECRET[:17] in p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())


def test_a_link_inside_the_root_is_followed(
    world: tuple[Server, Path, Path], client: Client, ephy_data: Path
) -> None:
    _, root, _ = world
    store = root / "store"
    store.mkdir()
    shutil.copy(ephy_data / SPIKEGLX / "TEST_20210920_0_g0_t0.imec0.ap.bin", store / "x_g0_t0.imec0.ap.bin")
    _spikeglx_run(root / "linked_g0", ephy_data).symlink_to(store / "x_g0_t0.imec0.ap.bin")
    sid, _ = client.new_session()
    r = client.http.post(f"/api/sessions/{sid}/source", json={"path": "linked_g0"})
    assert r.status_code in (200, 202), r.text
    status = client.wait_for(sid, {"collecting_metadata"})
    assert status["state"] == "collecting_metadata"


def test_a_link_planted_after_detection_is_caught_before_conversion(
    world: tuple[Server, Path, Path], client: Client, ephy_data: Path
) -> None:
    server, root, outside = world
    bin_path = _spikeglx_run(root / "later_g0", ephy_data)
    shutil.copy(ephy_data / SPIKEGLX / "TEST_20210920_0_g0_t0.imec0.ap.bin", bin_path)
    sid, _ = client.new_session()
    client.http.post(f"/api/sessions/{sid}/source", json={"path": "later_g0"})
    client.wait_for(sid, {"collecting_metadata"})
    bin_path.unlink()
    bin_path.symlink_to(outside / "secret.bin")
    client.http.post(f"/api/sessions/{sid}/messages", json={"text": DESCRIPTION})  # makes the preview
    status = client.wait_for(sid, {"collecting_metadata", "ready", "failed"})
    assert status["state"] == "collecting_metadata"
    chat = " ".join(t["text"] for t in client.http.get(f"/api/sessions/{sid}").json()["chat"])
    assert "'later_g0/x_g0_t0.imec0.ap.bin'" in chat and "symbolic link" in chat
    assert str(outside) not in chat
    assert not list((server.data_dir / "sessions" / sid).rglob("*.nwb"))
    assert not any(SECRET[:17] in p.read_bytes() for p in server.data_dir.rglob("*") if p.is_file())


def test_the_data_dir_inside_a_root_is_refused_and_warned_about(
    world: tuple[Server, Path, Path], client: Client
) -> None:
    """Item 4: with the data dir under the root, other users' uploads must not be reachable."""
    server, root, _ = world
    other = Client(server.base_url)
    victim, _ = other.new_session()
    r = other.http.post(
        f"/api/sessions/{victim}/files", files=[("files", ("private/notes.txt", b"unpublished"))]
    )
    assert r.status_code == 201, r.text
    other.close()
    (root / "innocent").mkdir()
    (root / "innocent" / "peek").symlink_to(server.data_dir / "sessions")
    sid, _ = client.new_session()
    for path in ("data/sessions", f"data/sessions/{victim}/uploads", "data", str(root), "innocent"):
        r = client.http.post(f"/api/sessions/{sid}/source", json={"path": path})
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "path_not_allowed" and "own files" in r.json()["message"], r.text
        assert victim in path or victim not in r.text  # only echoed back when the client sent it
    assert client.status(sid)["state"] == "created"
    deadline = time.monotonic() + 5
    while "overlaps this service's own folder" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "overlaps this service's own folder" in server.log.read_text()
