"""What a session may read: every file under its source must really live inside the source's allowed root.

:func:`~nwbagent.server.upload_rules.resolve_server_path` judges the folder a request names. Detection and
conversion then read what is *under* it, and they follow symbolic links: ``ROOT/run_g0/x.ap.bin ->
/etc/secret`` would copy the secret into the NWB file. So before anything reads a source, the tree is
walked once (``lstat`` only, no file is opened) and every link is resolved: one that leaves the root, or
that leads into the service's own folders (other users' sessions, the database), refuses the whole source.
A link that stays inside the root is followed by the walk, so links to links are judged by where they end.

The walk runs when a source is chosen and again when a conversion is sent to the executor, so a link
planted after detection is caught before any byte is converted. Messages name the link relative to its
root and never show where outside the root it points: that path is the server's business.

Blocking (it walks folders): call from a thread in async code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nwbagent.server.upload_rules import UploadRejected

_LINK_HINT = (
    "Replace the link with the file or folder itself (a copy), or ask the operator to add the folder it "
    "points to to NWBAGENT_DATA_ROOTS."
)
_OWN_HINT = (
    "Choose a folder of recordings. Operators: keep NWBAGENT_DATA_DIR and NWBAGENT_WORK_DIR outside "
    "NWBAGENT_DATA_ROOTS."
)


@dataclass(frozen=True)
class Root:
    """A folder a source may come from: its real path, and how to name it to the user."""

    path: Path
    label: str
    #: The service's own folders (other sessions, the database): never readable from this root.
    forbidden: tuple[Path, ...] = field(default=())

    @classmethod
    def of(
        cls, folder: str | os.PathLike[str], label: str | None = None, forbidden: Iterable[Path] = ()
    ) -> Root:
        real = Path(os.path.realpath(os.path.expanduser(folder)))
        return cls(real, label or str(folder), tuple(forbidden))

    def holds(self, real: Path) -> bool:
        return real == self.path or real.is_relative_to(self.path)

    def shown(self, real: Path) -> str:
        """``real`` relative to the root, as the user knows it."""
        return "." if real == self.path else real.relative_to(self.path).as_posix()


def inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def overlap(path: Path, folders: Iterable[Path]) -> Path | None:
    """The first of ``folders`` that ``path`` is in or contains (both real paths), else None."""
    for folder in folders:
        if inside(path, folder) or inside(folder, path):
            return folder
    return None


def root_of(real: Path, roots: Sequence[Root]) -> Root | None:
    """The root holding the real path ``real``, innermost first (a session folder before a data root)."""
    holding = [r for r in roots if r.holds(real)]
    return max(holding, key=lambda r: len(r.path.parts)) if holding else None


def check_source(source: Path, root: Root, *, max_entries: int) -> None:
    """Refuse ``source`` (a real path inside ``root``) if it overlaps the service's own folders or anything
    under it resolves outside ``root``; returns quietly otherwise.

    ``max_entries`` bounds the walk: a tree larger than that is refused rather than half checked.
    """
    own = overlap(source, root.forbidden)
    if own is not None:
        raise _own_folder(root, source, own)
    if not source.is_dir():
        return
    seen = {source}
    stack = [source]
    count = 0
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # unreadable: detection will report it, and nothing in it can be read either
        for entry in entries:
            count += 1
            if count > max_entries:
                raise UploadRejected(
                    413,
                    "source_too_large",
                    f"{root.shown(source)!r} in {root.label} holds more than {max_entries:,} files and "
                    "folders, too many to check.",
                    "Choose the folder of one recording session.",
                    path=root.shown(source),
                )
            path = Path(entry.path)
            try:
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                _check_not_own(root, path, path)
                seen.add(path)
                stack.append(path)
                continue
            if not is_link:
                continue
            target = Path(os.path.realpath(path))
            if not root.holds(target):
                raise UploadRejected(
                    403,
                    "link_outside_root",
                    f"{root.shown(path)!r} in {root.label} is a symbolic link to a place outside the folders "
                    "this server may read; such links are not followed.",
                    _LINK_HINT,
                    path=root.shown(path),
                )
            _check_not_own(root, path, target)
            if target.is_dir() and target not in seen:
                seen.add(target)
                stack.append(target)


def _check_not_own(root: Root, path: Path, real: Path) -> None:
    for folder in root.forbidden:
        if inside(real, folder):
            raise _own_folder(root, path, folder, via_link=path != real)


def _own_folder(root: Root, path: Path, own: Path, *, via_link: bool = False) -> UploadRejected:
    shown = root.shown(path) if root.holds(path) else path.name
    what = f"{root.shown(own)!r}" if root.holds(own) else "its data folder"
    how = "links into" if via_link else "overlaps"
    return UploadRejected(
        403,
        "path_not_allowed",
        f"{shown!r} in {root.label} {how} this service's own files ({what}: other sessions, the database), "
        "which are never used as a source.",
        _OWN_HINT,
        path=shown,
    )
