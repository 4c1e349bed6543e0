"""E2EE cost per round trip; prints a table.

1. The crypto alone, as each end does it per request: the agent seals the bound question, the
   desk opens and checks it, seals the answer, the agent opens and checks the answer — with the
   Box cached per peer (the steady state) and with a fresh Box (first contact: the X25519 step).
2. Through the live relay: p50 round trip of a plain question vs an encrypted one (agent →
   relay → approver on the event stream → answer → agent), measured in the same run.

Usage: python bench/crypto_bench.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hitl_desk.client import RelayClient
from hitl_desk.crypto import KeyPair, bind, check_binding, open_json, seal_json
from hitl_desk.e2ee import AgentEncryption, DeskEncryption
from hitl_desk.settings import Settings
from relay.app import RunningRelay
from relay.context import RelayConfig

PROMPT = "Deploy build 4711 to production? " + "Context line. " * 60  # about 1 KiB


def crypto_only(rounds: int, fresh_box: bool) -> list[float]:
    agent, desk = KeyPair.generate(), KeyPair.generate()
    agent_box, desk_box = agent.box(desk.public_key), desk.box(agent.public_key)
    times = []
    for i in range(rounds):
        rid = f"req_{i:020x}"
        t0 = time.perf_counter()
        if fresh_box:
            agent_box, desk_box = agent.box(desk.public_key), desk.box(agent.public_key)
        envelope = seal_json(agent_box, bind(rid, {"prompt": PROMPT, "choices": ["yes", "no"]}))
        question = check_binding(open_json(desk_box, envelope), rid)
        reply = seal_json(desk_box, bind(rid, {"response": question["choices"][0]}))
        answer = check_binding(open_json(agent_box, reply), rid)["response"]
        times.append(time.perf_counter() - t0)
        assert answer == "yes"
    return times


async def through_relay(rounds: int) -> tuple[list[float], list[float]]:
    home = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
    async with RunningRelay(RelayConfig(home=home / "desk", port=0)) as relay:
        settings = Settings(home=home / "desk", server_url=relay.url)
        async with RelayClient(relay.url, settings.read_owner_token()) as owner:
            desk = await DeskEncryption.ensure(owner, settings)
            key = (await owner.create_api_key("bench")).api_key

            async def approve() -> None:
                async for event in owner.event_stream():
                    request = event.request
                    if event.type != "request.created":
                        continue
                    if request.encrypted:
                        opened = desk.open(request)
                        await desk.answer(owner, request, opened.choices[0])
                    else:
                        await owner.answer(request.id, request.choices[0])

            approver = asyncio.create_task(approve())
            async with RelayClient(relay.url, key) as agent_client:
                agent = AgentEncryption(agent_client, Settings(home=home / "agent", server_url=relay.url))
                plain, sealed = [], []
                for i in range(rounds + 5):
                    t0 = time.perf_counter()
                    done = await agent_client.ask(PROMPT, choices=["yes", "no"])
                    t1 = time.perf_counter()
                    answer = await agent.ask(PROMPT, choices=["yes", "no"])
                    t2 = time.perf_counter()
                    assert done.response == "yes" and answer == "yes"
                    if i >= 5:
                        plain.append(t1 - t0)
                        sealed.append(t2 - t1)
            approver.cancel()
    return plain, sealed


def main() -> None:
    steady = crypto_only(2000, fresh_box=False)
    first = crypto_only(200, fresh_box=True)
    print("## E2EE crypto per round trip (seal question, open+check, seal answer, open+check; 1 KiB prompt)")
    print(f"cached Box (steady state): p50 {statistics.median(steady) * 1e6:.0f} µs, "
          f"p99 {sorted(steady)[int(len(steady) * 0.99)] * 1e6:.0f} µs")
    print(f"fresh Box (first contact, two X25519 exchanges): p50 {statistics.median(first) * 1e6:.0f} µs")
    plain, sealed = asyncio.run(through_relay(200))
    p_plain, p_sealed = statistics.median(plain), statistics.median(sealed)
    print("\n## Round trip through the relay (client long-poll, approver on the event stream)")
    print(f"plain p50 {p_plain * 1e3:.2f} ms, encrypted p50 {p_sealed * 1e3:.2f} ms, "
          f"added {(p_sealed - p_plain) * 1e6:.0f} µs ({p_sealed / p_plain:.2f}x)")


if __name__ == "__main__":
    main()
