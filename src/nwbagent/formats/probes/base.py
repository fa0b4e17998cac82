"""What every probe shares: the file index, the result a probe returns, and cheap readers.

Probes never walk the disk themselves. The index is built once (names and suffixes only, no file opened);
a probe looks up its candidate files there and opens only those, so a folder of thousands of unrelated files
costs one directory walk.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from nwbagent.errors import UserFacingError
from nwbagent.formats.model import Alternative, Category, LeftOut, Parameter, Unit, Unsupported

# Confidence scale, shared so probes stay comparable.
CERTAIN = 0.95  # magic bytes or sidecar content confirmed, and the reader lists the streams
STRONG = 0.85  # content confirmed, no reader call
SUFFIX_ONLY = 0.6  # unique suffix, no documented magic checked
AMBIGUOUS = 0.45  # two readings of the same files; the user must settle it
GUESS = 0.3  # instantiable only with an argument detection had to guess

T = TypeVar("T")

SKIP_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", ".DS_Store", "$RECYCLE.BIN"}


def suffix_key(name: str) -> str:
    """The last suffix, lower-cased (``x.imec0.ap.bin`` → ``.bin``)."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


@dataclass
class FileIndex:
    """Names under the root, grouped by directory and by suffix; nothing is opened to build it."""

    root: Path
    dirs: dict[Path, list[str]] = field(default_factory=dict)
    subdirs: dict[Path, list[str]] = field(default_factory=dict)
    by_suffix: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    _memo: dict[Any, tuple[bool, Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, root: Path, recursive: bool = True) -> FileIndex:
        index = cls(root=root)
        seen: set[tuple[int, int]] = set()
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                stat = folder.stat()
                entries = list(os.scandir(folder))
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) in seen:  # a symlink loop
                continue
            seen.add((stat.st_dev, stat.st_ino))
            files: list[str] = []
            subs: list[str] = []
            for entry in entries:
                if entry.name in SKIP_DIRS or entry.name.startswith("._"):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    continue
                if is_dir:
                    subs.append(entry.name)
                    if recursive:
                        stack.append(Path(entry.path))
                else:
                    files.append(entry.name)
                    path = Path(entry.path)
                    index.by_suffix[suffix_key(entry.name)].append(path)
                    index.by_name[entry.name.lower()].append(path)
            index.dirs[folder] = sorted(files)
            index.subdirs[folder] = sorted(subs)
        return index

    def files(self, suffix: str) -> list[Path]:
        return sorted(self.by_suffix.get(suffix.lower(), []))

    def named(self, name: str) -> list[Path]:
        return sorted(self.by_name.get(name.lower(), []))

    def siblings(self, path: Path) -> list[str]:
        return self.dirs.get(path.parent, [])

    def all_files(self) -> Iterator[Path]:
        for folder, names in self.dirs.items():
            for name in names:
                yield folder / name

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()`` once per detection run (a reader listing a folder, a file checked for damage).

        An exception is remembered and raised again, so every unit reading a damaged file hears of it.
        """
        if key not in self._memo:
            try:
                self._memo[key] = (True, compute())
            except Exception as exc:
                self._memo[key] = (False, exc)
        ok, value = self._memo[key]
        if not ok:
            raise value
        return value


@dataclass
class ProbeResult:
    """What one probe found; ``claimed`` lists the files (or folders, covering their subtree) it explained.

    ``left_out`` holds data the probe recognised as its own but that cannot be converted as it is (a
    damaged stream); the rest of the folder still converts.
    """

    units: list[Unit] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    claimed: set[Path] = field(default_factory=set)
    left_out: list[LeftOut] = field(default_factory=list)

    def extend(self, other: ProbeResult) -> None:
        self.units += other.units
        self.unsupported += other.unsupported
        self.warnings += other.warnings
        self.claimed |= other.claimed
        self.left_out += other.left_out


@dataclass(frozen=True)
class Signature:
    """How a file of a family starts: the suffixes it comes with and the bytes at offset 0.

    A probe matches its files by it; a file with one of these suffixes that no probe claims and whose first
    bytes fit none of the signatures for that suffix is reported as damaged, naming what it should start
    with (a ``.nev`` is Blackrock's or Neuralynx's: only a file that fits neither is "corrupt").
    """

    format: str
    suffixes: tuple[str, ...]
    magics: tuple[bytes, ...]
    description: str

    @property
    def length(self) -> int:
        return max(len(m) for m in self.magics)

    def matches(self, start: bytes) -> bool:
        return any(start.startswith(m) for m in self.magics)


@dataclass
class Prepared:
    """What a probe corrected on an opened interface, said to the user, and metadata its reader misses.

    ``metadata`` maps a schema field to ``(value, evidence)`` (the start time of the second experiment of an
    Open Ephys node is in its own settings file, which NeuroConv does not read).
    """

    notes: list[str] = field(default_factory=list)
    metadata: dict[str, tuple[Any, str]] = field(default_factory=dict)


class Probe:
    """One format family: everything nwbagent knows about it.

    ``interfaces`` lists the NeuroConv interfaces it proposes and ``categories`` what each finds (a report
    labels a recipe's units from it); ``signatures`` how its files start; ``run`` finds units in the index;
    ``check`` looks at the files one unit reads before conversion (sizes, headers) and raises
    :class:`UserFacingError` for data that would fail or convert wrongly, returning warnings otherwise;
    ``open`` instantiates the interface and ``prepare`` corrects it where its reader misreads the files (a
    time base).
    """

    family: str = ""
    interfaces: tuple[str, ...] = ()
    categories: ClassVar[dict[str, Category]] = {}
    signatures: tuple[Signature, ...] = ()

    def run(self, index: FileIndex) -> ProbeResult:
        raise NotImplementedError

    def check(self, found: Unit, index: FileIndex) -> list[str]:
        return []

    def open(self, found: Unit, cls: Any) -> Any:
        """The NeuroConv interface for ``found``; a probe overrides it where the reader needs help to open."""
        return cls(**found.kwargs)

    def prepare(self, found: Unit, interface: Any) -> Prepared:
        return Prepared()

    def category_of(self, interface: str, kwargs: dict[str, Any]) -> Category | None:
        """What a unit of ``interface`` with ``kwargs`` holds, for units read back from a recipe."""
        return self.categories.get(interface)


def unit(
    interface: str,
    kwargs: dict[str, Any],
    category: Category,
    confidence: float,
    evidence: list[str],
    *,
    streams: list[str] | None = None,
    alternatives: list[Alternative] | None = None,
    disambiguation: str | None = None,
    acquisition: str | None = None,
    segments: list[str] | None = None,
    needs: list[Parameter] | None = None,
) -> Unit:
    return Unit(
        interface=interface,
        kwargs=kwargs,
        streams=streams or [],
        category=category,
        confidence=round(confidence, 3),
        evidence=evidence,
        alternatives=alternatives or [],
        disambiguation=disambiguation,
        acquisition=acquisition,
        segments=segments or [],
        needs=needs or [],
    )


def left_out(
    error: UserFacingError, *, label: str, interface: str | None = None, found: Unit | None = None
) -> LeftOut:
    """A left-out entry carrying an explained error (its problem, fix, path and code)."""
    return LeftOut(
        label=label,
        interface=interface,
        path=error.path,
        problem=error.problem,
        fix=error.fix,
        cli_fix=error.cli_fix,
        code=error.code,
        details=error.details,
        unit=found,
    )


def parameter(name: str, label: str, why: str, example: str, kind: str = "number") -> Parameter:
    return Parameter(name=name, label=label, why=why, example=example, kind=kind)  # type: ignore[arg-type]


def head(path: Path, size: int = 512) -> bytes:
    """The first ``size`` bytes, or b"" when the file cannot be read (a probe then simply does not match)."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def text_head(path: Path, size: int = 4096) -> str:
    return head(path, size).decode("utf-8", errors="replace")


def xml_root_tag(path: Path) -> str | None:
    """The root element name of an XML file, read from its first few KB (no full parse)."""
    text = text_head(path, 4096)
    position = 0
    while True:
        start = text.find("<", position)
        if start < 0 or start + 1 >= len(text):
            return None
        following = text[start + 1]
        if following in "?!":
            position = start + 1
            continue
        end = start + 1
        while end < len(text) and (text[end].isalnum() or text[end] in "_-:."):
            end += 1
        return text[start + 1 : end] or None


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def rel(path: Path, root: Path) -> str:
    """A path relative to the detection root for evidence lines, absolute when outside it."""
    if path == root:
        return root.name or str(root)
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def reader_call(function: Callable[[], T]) -> tuple[T | None, str | None]:
    """Call a neo/NeuroConv reader; return (value, None) or (None, error text) — a probe must not crash."""
    try:
        with _quiet():
            return function(), None
    except Exception as error:  # readers raise anything on malformed files
        return None, f"{type(error).__name__}: {error}"[:300]


class SingleFileProbe(Probe):
    """A format whose every matching file is one recording: suffix first, then a content check.

    ``matches`` gets the file and returns evidence text when the content matches, else None. A file whose
    suffix fits but content does not is left unmatched (not guessed).
    """

    suffixes: tuple[str, ...] = ()
    interface: str = ""
    category: Category = "recording"
    confidence: float = STRONG
    path_kwarg: str = "file_path"

    def matches(self, path: Path) -> str | None:
        raise NotImplementedError

    def extra(self, path: Path, index: FileIndex) -> dict[str, Any]:
        """Further kwargs and streams for a matched file (override where the interface has streams)."""
        return {}

    def streams(self, path: Path) -> list[str]:
        return []

    def category_of(self, interface: str, kwargs: dict[str, Any]) -> Category | None:
        return self.category if interface == self.interface else super().category_of(interface, kwargs)

    def run(self, index: FileIndex) -> ProbeResult:
        result = ProbeResult()
        for suffix in self.suffixes:
            for path in index.files(suffix):
                found = self.matches(path)
                if found is None:
                    continue
                result.claimed.add(path)
                result.units.append(
                    unit(
                        self.interface,
                        {self.path_kwarg: str(path), **self.extra(path, index)},
                        self.category,
                        self.confidence,
                        [f"{rel(path, index.root)}: {found}"],
                        streams=self.streams(path),
                    )
                )
        return result
