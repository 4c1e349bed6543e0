"""Cold start of the agent-side command: whole-process wall time against one running relay.

Runs, interleaved round by round so machine load hits all alike:
- ``hitl-desk notify`` (our console script, with an agent API key),
- hitl-cli 1.2.1's ``notify`` (its pinned virtualenv from scripts/install-hitl-cli, same key,
  through the relay's MCP endpoint as it does),
- ``python -c pass`` (our interpreter: the floor of any Python command here),
and prints p50/p90 of each, the ratios, and whether the goal holds (issue 11: p50 ≤ 120 ms and
≥ 5× faster than hitl-cli's notify).

Usage: python bench/coldstart_bench.py [--runs N] [--no-hitl-cli]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_P50_MS = 120.0
GOAL_RATIO = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hitl_desk_exe() -> str:
    """The installed console script (what an agent's hook runs), not ``python -m``."""
    return shutil.which("hitl-desk", path=str(Path(sys.executable).parent)) or "hitl-desk"


def start_relay(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITL_")}
    env.update(HITL_HOME=str(home), HITL_SERVER_URL=f"http://127.0.0.1:{port}")
    return subprocess.Popen([hitl_desk_exe(), "relay"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_up(url: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)  # polling for the relay to listen, under the deadline


def mint_key(url: str, owner_token: str) -> str:
    request = urllib.request.Request(url + "/api/v1/api-keys", data=json.dumps({"agent_name": "bench"}).encode(),
                                     headers={"Authorization": f"Bearer {owner_token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(json.load(resp)["api_key"])


def hitl_cli_venv() -> Path | None:
    done = subprocess.run([str(ROOT / "scripts" / "install-hitl-cli")], capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        print(f"(hitl-cli not available: {done.stderr.strip()[-200:]})")
        return None
    return Path(done.stdout.strip().splitlines()[-1])


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run; CPU time hardly moves with machine load."""
    cpu0, t0 = cpu_of_children(), time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed, cpu = time.perf_counter() - t0, cpu_of_children() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed, cpu


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="measured runs of each command (after 3 warm-ups)")
    parser.add_argument("--no-hitl-cli", action="store_true", help="leave hitl-cli out")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hitl-coldstart-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    relay = start_relay(work / "relay-home", port)
    try:
        wait_up(url)
        key = mint_key(url, (work / "relay-home" / "owner.token").read_text().strip())
        # Bytecode caches on, as an installed package has them (pip compiles at install; an editable
        # checkout writes them on the warm-up runs): without them every run compiles our modules.
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith("HITL_") and k != "PYTHONDONTWRITEBYTECODE"}
        agent_home = work / "agent-home"
        agent_home.mkdir()
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "hitl-desk notify": ([hitl_desk_exe(), "notify", "--message", "cold start"],
                                 {**clean, "HITL_HOME": str(agent_home), "HITL_SERVER_URL": url,
                                  "HITL_API_KEY": key}),
            "python -c pass": ([sys.executable, "-c", "pass"], clean),
        }
        venv = None if args.no_hitl_cli else hitl_cli_venv()
        if venv is not None:
            commands["hitl-cli 1.2.1 notify"] = (
                [str(venv / "bin" / "hitl-cli"), "notify", "--message", "cold start"],
                {"HOME": str(agent_home), "PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8",
                 "HITL_SERVER_URL": url, "HITL_API_KEY": key})
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for i in range(args.runs + 3):
            for name, (argv, env) in commands.items():  # interleaved: load drifts hit every command alike
                elapsed, cpu = timed(argv, env, agent_home)
                if i >= 3:  # the first rounds warm the OS page cache
                    times[name].append(elapsed)
                    cpus[name].append(cpu)
    finally:
        relay.terminate()
        relay.wait()
        shutil.rmtree(work, ignore_errors=True)

    print(f"## Cold start, whole process, one relay on loopback ({args.runs} runs each, interleaved)")
    print(f"{'command':<24} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8} {'CPU p50 ms':>11}")
    for name, values in times.items():
        print(f"{name:<24} {pct(values, .5):>8.1f} {pct(values, .9):>8.1f} {min(values) * 1000:>8.1f} "
              f"{pct(cpus[name], .5):>11.1f}")
    print(f"(load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs)")
    ours, floor = pct(times["hitl-desk notify"], .5), pct(times["python -c pass"], .5)
    print(f"\nhitl-desk notify above the bare interpreter: {ours - floor:.1f} ms (p50)")
    ratio = None
    if "hitl-cli 1.2.1 notify" in times:
        theirs = times["hitl-cli 1.2.1 notify"]
        ratio = pct(theirs, .5) / ours
        print(f"hitl-cli notify / hitl-desk notify: {ratio:.2f}x (p50), "
              f"{pct(theirs, .9) / pct(times['hitl-desk notify'], .9):.2f}x (p90)")
    met = ours <= GOAL_P50_MS and (ratio is None or ratio >= GOAL_RATIO)
    print(f"goal (p50 <= {GOAL_P50_MS:.0f} ms and >= {GOAL_RATIO:.0f}x faster than hitl-cli): "
          f"{'met' if met else 'NOT met'}" + ("" if ratio is not None else " (hitl-cli not measured)"))

if __name__ == "__main__":
    main()
