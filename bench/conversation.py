"""The scripted conversation on a real recording: message count, time per turn, and the agents' overhead.

Runs files → detect → questions → answers → stub preview → full conversion → accept with the rules provider
on the real SpikeGLX excerpt from ../shared/data, then, as the baseline in the same process, the same
conversion through the plain library call (`nwbagent.convert.convert`, which also inspects the file).

    .venv/bin/python bench/conversation.py
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from nwbagent.agents.commands import StartRequest, UserMessageRequest
from nwbagent.agents.system import AgentSystem
from nwbagent.agents.view import Turn
from nwbagent.convert import convert
from nwbagent.llm.rules_provider import RulesProvider

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ephy_testing_data"
SCRIPT = [
    "what is session_description?",
    "I'm Dr. Jane Smith from MIT. Mouse M12, an 8 week old male mouse, recorded in CA1 during open field "
    "exploration.",
    "convert",
    "accept",
]
METADATA = {
    "experimenter": "Jane Smith",
    "institution": "MIT",
    "subject_id": "M12",
    "species": "mouse",
    "sex": "male",
    "age": "8 weeks",
    "brain_region": "CA1",
}


def conversation(source: Path, out: Path) -> tuple[float, list[tuple[str, float, Turn]], AgentSystem, str]:
    system = AgentSystem(provider=RulesProvider())
    session = system.new_session(output_dir=str(out))
    turns: list[tuple[str, float, Turn]] = []
    started = time.perf_counter()

    async def run() -> None:
        t = time.perf_counter()
        turn = await system.send(session.id, "start", StartRequest(source=str(source)))
        turns.append(("<files>", time.perf_counter() - t, turn))
        for text in SCRIPT:
            t = time.perf_counter()
            turn = await system.send(session.id, "user_message", UserMessageRequest(text=text))
            turns.append((text[:40], time.perf_counter() - t, turn))

    asyncio.run(run())
    return time.perf_counter() - started, turns, system, session.id


def main() -> int:
    if not DATA.is_dir():
        print(f"real recordings not found at {DATA}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "TEST_20210920_0_g0"
        shutil.copytree(DATA / "spikeglx" / "TEST_20210920_0_g0", source)
        # Warm imports (neuroconv, neo, nwbinspector) so neither side pays them.
        convert(source, Path(tmp) / "warm", user_metadata=METADATA, stub=True)

        baselines = []
        for i in range(3):
            t = time.perf_counter()
            convert(source, Path(tmp) / f"direct{i}", user_metadata=METADATA)
            baselines.append(time.perf_counter() - t)
        baseline = statistics.median(baselines)

        total, turns, system, session_id = conversation(source, Path(tmp) / "chat")
        final = turns[-1][2]
        records = system.bus.records(session_id)
        by_action = Counter(f"{r.request.target}.{r.request.action}" for r in records)
        bus_time = sum(r.duration_s for r in records if r.request.sender != "user")

        verdict = final.output.verdict if final.output else None
        print(f"final state: {final.state.value}; file verdict: {verdict}")
        for label, seconds, turn in turns:
            print(f"  turn {label!r:45} {seconds * 1000:8.1f} ms -> {turn.state.value}")
        print(f"bus messages (requests, each with its reply): {len(records)}")
        for name, count in sorted(by_action.items()):
            print(f"  {name:35} {count}")
        print(f"conversation wall time: {total:.2f} s; time inside agent-to-agent calls: {bus_time:.2f} s")
        print(f"baseline: direct library conversion + inspection, median of 3: {baseline:.2f} s")
        print(f"ratio conversation / direct conversion: {total / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
