"""The ``nwbagent`` command line: the core pipeline with no service, agent or LLM in between.

Every expected failure ends as one paragraph on stderr (file, problem, fix) and a non-zero exit code,
never a traceback: exit 2 for bad input, 1 for a file that fails inspection, 3 for an internal error
(``--debug`` shows its traceback).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nwbagent import __version__
from nwbagent.errors import UserFacingError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED_VERDICT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


def _friendly(func: F) -> F:
    """Render UserFacingError (and anything unexpected) as a paragraph instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(os.environ.get("NWBAGENT_DEBUG"))
        with warnings.catch_warnings():
            if not debug:
                # Reader libraries warn about things users cannot act on; our own warnings are printed.
                warnings.simplefilter("ignore")
            try:
                return func(*args, **kwargs)
            except UserFacingError as exc:
                click.echo(f"error: {exc.paragraph(cli=True)}", err=True)
                if exc.details:
                    click.echo(f"  details: {exc.details}", err=True)
                sys.exit(EXIT_BAD_INPUT)
            except KeyboardInterrupt:
                click.echo("interrupted: nothing was left at the output path.", err=True)
                sys.exit(130)
            except click.exceptions.Exit:
                raise
            except Exception as exc:
                if debug:
                    raise
                click.echo(
                    f"internal error: {type(exc).__name__}: {exc}. This is a bug in nwbagent, not in your "
                    "data. Run again with NWBAGENT_DEBUG=1 for the traceback and report it.",
                    err=True,
                )
                sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nwbagent")
def main() -> None:
    """Convert raw electrophysiology recordings into validated, DANDI-ready NWB files."""
    from nwbagent.gc_tuning import tune_for_batch_work

    tune_for_batch_work()


@main.command("detect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable detection result.")
@_friendly
def detect_cmd(path: Path, as_json: bool) -> None:
    """Say which recordings, streams and sortings PATH (a folder or a file) holds."""
    from nwbagent.formats import detect

    result = detect(path)
    if as_json:
        _print_json(result.model_dump(mode="json"))
        return
    from nwbagent.convert.select import unit_handle
    from nwbagent.formats.registry import display_name

    click.echo(f"{result.path}")
    if not result.units:
        click.echo("  no convertible units found")
    for unit in result.units:
        flag = "  (uncertain)" if unit.confidence < 0.5 else ""
        click.echo(
            f"  {unit.label}  [{unit.category}]  {display_name(unit.interface)}  "
            f"confidence {unit.confidence:.2f}{flag}"
        )
        if len(unit.segments) > 1:
            click.echo(f"      segments: {', '.join(unit.segments)} (pick with --select)")
        for need in unit.needs:
            click.echo(
                f"      needs: {need.label}: {need.why}; give --option {unit_handle(unit)}:{need.name}="
                f"{need.example}"
            )
        for ev in unit.evidence:
            click.echo(f"      evidence: {ev}")
        for alt in unit.alternatives:
            click.echo(f"      or: {alt.interface} ({alt.confidence:.2f}): {alt.reason}")
        if unit.disambiguation:
            click.echo(f"      to decide: {unit.disambiguation}")
    for item in result.unsupported:
        click.echo(f"  unsupported: {item.path}: {item.reason}")
    for left in result.left_out:
        click.echo(f"  {left.sentence(cli=True)}")
    for warning in result.warnings:
        click.echo(f"  warning: {warning}")


@main.command("convert")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="Output folder."
)
@click.option(
    "--metadata", "metadata_file", type=click.Path(path_type=Path), help="Flat YAML/JSON of fields."
)
@click.option("--stub", is_flag=True, help="Write a small preview (first 100 samples) in seconds.")
@click.option("--stream", "streams", multiple=True, help="Convert only this stream (repeatable).")
@click.option("--interface", help="Use this NeuroConv interface (one of the detected units or alternatives).")
@click.option(
    "--select",
    "parts",
    multiple=True,
    help="Convert only these parts of a multi-acquisition folder: an Open Ephys experiment "
    "('experiment2'), a SpikeGLX gate or trigger ('g1', 'g0 t1'), a recording ('recording2'). Repeatable.",
)
@click.option(
    "--option",
    "option_args",
    multiple=True,
    metavar="[UNIT:]KEY=VALUE",
    help="A value the files lack, e.g. --option sampling_frequency=30000, or for one unit "
    "--option l101210-001.nev:sampling_frequency=30000 (see `nwbagent detect`). Repeatable.",
)
@click.option("--backend", type=click.Choice(["hdf5", "zarr"]), default="hdf5", show_default=True)
@click.option(
    "--writer",
    type=click.Choice(["direct", "neuroconv"]),
    help="HDF5 writer: direct = parallel compression + direct chunk writes; neuroconv = NeuroConv's own "
    "write. Default: direct, unless NWBAGENT_FAST_WRITE=false.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable result.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_friendly
def convert_cmd(
    path: Path,
    output: Path,
    metadata_file: Path | None,
    stub: bool,
    streams: tuple[str, ...],
    interface: str | None,
    parts: tuple[str, ...],
    option_args: tuple[str, ...],
    backend: str,
    writer: str | None,
    overwrite: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Convert the recording(s) in PATH to NWB, then inspect the result."""
    from nwbagent.convert import WriteOptions, convert
    from nwbagent.inspect import format_text
    from nwbagent.metadata import load_user_file
    from nwbagent.settings import get_settings

    settings = get_settings()
    user_metadata = load_user_file(metadata_file) if metadata_file else {}
    bar = _ProgressBar(enabled=not quiet)
    try:
        outputs = convert(
            path,
            output,
            user_metadata=user_metadata,
            stub=stub,
            streams=streams,
            interface=interface,
            parts=parts,
            options=_parse_options(option_args),
            backend=backend,  # type: ignore[arg-type]
            overwrite=overwrite,
            progress=bar.update,
            fast_write=None if writer is None else writer == "direct",
            write=WriteOptions.from_settings(settings),
            timezone=settings.timezone,
        )
    finally:
        bar.close()
    if as_json:
        _print_json({"outputs": [o.model_dump(mode="json") for o in outputs]})
    else:
        from nwbagent.inspect import InspectionResult

        for out in outputs:
            click.echo(f"wrote {out.nwb} ({out.size_bytes / 1e6:.1f} MB in {out.seconds:.1f} s)")
            click.echo(f"  recipe:   {out.recipe}")
            click.echo(f"  metadata: {out.metadata}")
            for warning in out.warnings:
                click.echo(f"  warning: {warning}")
            for item in out.left_out:
                click.echo(f"  {item.sentence(cli=True)}")
            if out.findings:
                click.echo(format_text(InspectionResult.model_validate(out.findings)))
    if any(o.verdict == "FAILED" for o in outputs):
        sys.exit(EXIT_FAILED_VERDICT)


def _parse_options(args: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` for every unit, ``UNIT:KEY=VALUE`` for one (UNIT as `nwbagent detect` names it)."""
    options: dict[str, Any] = {}
    for arg in args:
        target, sep, value = arg.partition("=")
        if not sep or not target.strip():
            raise UserFacingError(
                f"--option {arg!r} is not KEY=VALUE.",
                fix="Write it as KEY=VALUE or UNIT:KEY=VALUE, e.g. --option sampling_frequency=30000.",
                code="bad_option",
            )
        unit, colon, key = target.rpartition(":")
        if colon and unit:
            options.setdefault(unit, {})[key.strip()] = value.strip()
        else:
            options[target.strip()] = value.strip()
    return options


class _ProgressBar:
    """tqdm in bytes: it renders percent, MB/s and ETA itself."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def update(self, progress: Any) -> None:
        if not self.enabled or progress.total_bytes <= 0:
            return
        from tqdm import tqdm

        if self._bar is None or self._bar.total != progress.total_bytes:
            self.close()
            self._bar = tqdm(
                total=progress.total_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,
                desc="converting",
                file=sys.stderr,
                mininterval=0.5,
            )
        self._bar.set_description(progress.stage)
        self._bar.update(progress.done_bytes - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@main.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable findings.")
@click.option("--stub", is_flag=True, help="The file is a stub preview: label stub-only false positives.")
@_friendly
def inspect_cmd(path: Path, as_json: bool, stub: bool) -> None:
    """Run NWB Inspector (DANDI config) and pynwb validation on an NWB file; exit 1 when it FAILS."""
    from nwbagent.inspect import format_text, inspect_nwb

    result = inspect_nwb(path, stub=stub)
    if as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        click.echo(format_text(result))
    if result.verdict == "FAILED":
        sys.exit(EXIT_FAILED_VERDICT)


@main.command("report")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "json", "text"]),
    help="Write only this rendering (json/text go to stdout unless -o is given). Default: all four.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path),
    help="Output stem (OUT → OUT.report.html, …), a folder, or with --format the exact file to write.",
)
@click.option("--title", help="Report title (default: 'Conversion report: FILE').")
@click.option("--stub", is_flag=True, help="The file is a stub preview: label stub-only false positives.")
@click.option("--no-plots", is_flag=True, help="Leave out the plots (faster; no matplotlib).")
@click.option("--json", "as_json", is_flag=True, help="Print the written paths and timings as JSON.")
@_friendly
def report_cmd(
    path: Path,
    fmt: str | None,
    output: Path | None,
    title: str | None,
    stub: bool,
    no_plots: bool,
    as_json: bool,
) -> None:
    """Write the conversion report of an NWB file (any NWB file; sidecars beside it add provenance).

    Exits 0 whatever the verdict: the report states it. Exit 2 when the file cannot be read as NWB.
    """
    import time

    from nwbagent import outputs
    from nwbagent.inspect import inspect_nwb
    from nwbagent.report import FORMATS, build_report, report_stem, write_reports
    from nwbagent.report.write import render, write_report

    extensions = {f: outputs.report_path(Path("x"), f).suffix for f in FORMATS}

    started = time.monotonic()
    inspection = inspect_nwb(path, stub=True) if stub else None
    report = build_report(path, inspection=inspection, title=title, plots=not no_plots)
    timings: dict[str, float] = {"collect": round(time.monotonic() - started, 3)}
    if fmt in ("json", "text") and output is None and not as_json:
        sys.stdout.write(render(report, fmt).decode())
        return
    stem = report_stem(path.expanduser().resolve())
    if output is not None:
        output = output.expanduser()
        stem = output / stem.name if output.is_dir() else output
    written: dict[str, Path]
    if fmt is not None and output is not None and output.suffix == extensions[fmt]:
        begun = time.monotonic()
        written = {fmt: write_report(report, output, fmt)}
        timings[fmt] = round(time.monotonic() - begun, 3)
    else:
        if output is not None and stem.suffix in set(extensions.values()):
            stem = stem.with_suffix("")
        formats = [fmt] if fmt else list(FORMATS)
        written = write_reports(report, stem, formats, timings=timings)
    if as_json:
        _print_json(
            {
                "verdict": report.verdict.verdict,
                "dandi_ready": report.verdict.dandi_ready,
                "written": {k: str(v) for k, v in written.items()},
                "seconds": timings,
            }
        )
        return
    ready = "DANDI-ready" if report.verdict.dandi_ready else "not DANDI-ready"
    click.echo(f"{path}: {report.verdict.verdict} ({ready}); collected in {timings['collect']:.2f} s")
    for kind, out in written.items():
        click.echo(f"  {kind:<4}  {out}  ({timings.get(kind, 0.0):.2f} s)")


@main.command("check-metadata")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable issues.")
@_friendly
def check_metadata_cmd(path: Path, as_json: bool) -> None:
    """Report missing or malformed DANDI-required fields in a flat metadata YAML/JSON file."""
    from nwbagent.metadata import check_metadata_file
    from nwbagent.settings import get_settings

    issues = check_metadata_file(path, timezone=get_settings().timezone)
    if as_json:
        _print_json([i.model_dump(mode="json") for i in issues])
    elif not issues:
        click.echo(f"{path}: no problems found")
    else:
        for issue in issues:
            click.echo(f"{issue.importance}  {issue.field}: {issue.message}\n    fix: {issue.fix}")
    if any(i.importance == "CRITICAL" for i in issues):
        sys.exit(EXIT_FAILED_VERDICT)


@main.command("extract-metadata")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable fields.")
@_friendly
def extract_metadata_cmd(text: str, as_json: bool) -> None:
    """Find NWB/DANDI metadata in a plain-language description (LLM if configured, else rules)."""
    from nwbagent.llm import get_provider_or_rules
    from nwbagent.sentences import extract_metadata
    from nwbagent.settings import get_settings

    settings = get_settings()
    provider, note = get_provider_or_rules(settings)
    result = extract_metadata(text, provider, timezone=settings.timezone)
    notes = [n for n in (note, result.fallback_note) if n]
    if as_json:
        _print_json(
            {
                "provider": result.provider,
                "fields": [f.model_dump(mode="json") for f in result.fields],
                "notes": notes,
                "usage": result.usage.model_dump(),
            }
        )
        return
    for line in notes:
        click.echo(f"note: {line}", err=True)
    if not result.fields:
        click.echo("no metadata found")
    for f in result.fields:
        click.echo(f"{f.field}: {f.value!r}  (confidence {f.confidence:.2f}; from “{f.evidence}”)")


@main.command("eval-metadata")
@click.option(
    "--set",
    "which",
    type=click.Choice(["all", "tuning", "holdout", "dialogues", "dialogue-holdout"]),
    default="all",
    show_default=True,
    help="tuning/holdout: single descriptions; dialogues/dialogue-holdout: multi-turn chats scored after "
    "every turn. The holdouts were never used to tune the rules (the honest estimate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the machine-readable report.")
@click.option("--failures/--no-failures", default=True, help="List the cases that went wrong.")
@_friendly
def eval_metadata_cmd(which: str, as_json: bool, failures: bool) -> None:
    """Field-level precision and recall of metadata extraction on the shipped evaluation sets."""
    from nwbagent.llm import get_provider_or_rules
    from nwbagent.sentences import evaluate, extract_metadata, format_report
    from nwbagent.sentences.evaluate import load_cases
    from nwbagent.sentences.evaluate_dialogues import (
        evaluate_dialogues,
        format_dialogue_report,
        load_dialogues,
        replay,
    )
    from nwbagent.settings import get_settings

    provider, note = get_provider_or_rules(get_settings())
    if note:
        click.echo(f"note: {note}", err=True)
    names = ["tuning", "holdout", "dialogues", "dialogue-holdout"] if which == "all" else [which]
    reports: dict[str, Any] = {}
    texts: list[str] = []
    for name in names:
        if name in ("tuning", "holdout"):
            report: Any = evaluate(
                lambda text: extract_metadata(text, provider).fields, load_cases(name), name=provider.name
            )
            texts.append(
                f"provider: {provider.name}; set: {name}\n" + format_report(report, show_failures=failures)
            )
        else:
            report = evaluate_dialogues(load_dialogues(name), replay(provider), name=provider.name)
            texts.append(
                f"provider: {provider.name}; set: {name}\n"
                + format_dialogue_report(report, show_failures=failures)
            )
        reports[name] = report.model_dump(mode="json")
    if as_json:
        _print_json(reports[which] if which != "all" else reports)
    else:
        click.echo("\n\n".join(texts))


@main.command("chat")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), help="Where the session writes.")
@_friendly
def chat_cmd(path: Path, output: Path | None) -> None:
    """Convert PATH by talking with the agents in the terminal (type 'convert', 'accept', questions, …)."""
    import asyncio

    from nwbagent.agents.commands import StartRequest, UserMessageRequest
    from nwbagent.agents.config import AgentConfig
    from nwbagent.agents.system import AgentSystem
    from nwbagent.agents.workflow import TERMINAL
    from nwbagent.llm import get_provider_or_rules
    from nwbagent.settings import get_settings

    settings = get_settings()
    provider, note = get_provider_or_rules(settings)
    system = AgentSystem(provider=provider, provider_note=note, config=AgentConfig.from_settings(settings))
    session = system.new_session(output_dir=str(output.resolve()) if output else None)
    done = TERMINAL

    async def talk() -> None:
        turn = await system.send(session.id, "start", StartRequest(source=str(path.resolve())))
        while True:
            for line in turn.replies:
                click.echo(f"agent: {line}")
            if turn.state in done:
                return
            try:
                text = input("you: ").strip()
            except EOFError:
                click.echo("")
                return
            if text:
                turn = await system.send(session.id, "user_message", UserMessageRequest(text=text))

    asyncio.run(talk())


@main.command("serve")
@click.option("--host", help="Listen address (default NWBAGENT_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default NWBAGENT_PORT or 8000).")
@_friendly
def serve_cmd(host: str | None, port: int | None) -> None:
    """Run the web service (REST + WebSocket API) with the bundled sample recording ready."""
    from nwbagent.server.app import serve
    from nwbagent.settings import get_settings

    settings = get_settings()
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    serve(settings.model_copy(update=updates))


@main.group("make-sample")
def make_sample() -> None:
    """Write synthetic, format-correct recordings for demos and benchmarks."""


@make_sample.command("spikeglx")
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--seconds", type=float, default=10.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-lf", is_flag=True, help="Write only the AP band.")
@_friendly
def make_sample_spikeglx(outdir: Path, seconds: float, seed: int, no_lf: bool) -> None:
    """A Neuropixels 1.0 SpikeGLX run (385 channels, 30 kHz AP and 2.5 kHz LF) of any length."""
    from nwbagent.sample import make_spikeglx_sample

    if seconds <= 0:
        raise UserFacingError("--seconds must be positive.", fix="Pass e.g. --seconds 60.")
    folder = make_spikeglx_sample(outdir, seconds, seed=seed, lf=not no_lf)
    click.echo(str(folder))


if __name__ == "__main__":
    main()
