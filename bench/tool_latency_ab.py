"""bench/tool_latency.py on two checkouts back to back, on one private PostgreSQL/Redis: before/after
figures from the same machine minutes apart (docs/BENCHMARKS.md, "create_booking against the trivial
endpoint").

    git worktree add /tmp/old <commit>
    .venv/bin/python bench/tool_latency_ab.py --old /tmp/old --order new,old,new,new [tool_latency args]

Each run prints the load average and `python3 -m timeit "sum(range(10000))"` before and after it. The
first run migrates and seeds the bench database; the others reuse it (`--skip-setup`), which empties
the call activity. Both checkouts must share the schema (no migration between them).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.dev import Services  # noqa: E402 - the project root is on the path only now


def machine() -> str:
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    timeit = subprocess.run(["python3", "-m", "timeit", "sum(range(10000))"], capture_output=True, text=True).stdout.strip()
    return f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {load}, timeit: {timeit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--order", default="new,old,new,old", help="which checkout runs when, comma-separated")
    args, bench_args = parser.parse_known_args()
    services = Services()
    env = {**os.environ, **services.start(persistent_redis=False)}
    try:
        for index, code in enumerate(args.order.split(",")):
            root = ROOT if code == "new" else args.old.resolve()
            print(f"=== {code} ({root}) at {machine()}", flush=True)
            subprocess.run([sys.executable, str(root / "bench" / "tool_latency.py"),
                            *([] if index == 0 else ["--skip-setup"]), *bench_args], cwd=root, env=env, check=True)
            print(f"=== end of {code} at {machine()}", flush=True)
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
