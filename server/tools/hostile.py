"""Hostile-client cases against a server this script starts: each case's answer, time and the
server's peak RSS growth.

    python -m server.tools.hostile [--model MODEL] [--cases NAME,NAME] [--json OUT.json]

Each case runs against a fresh `python -m server --port 0` on 127.0.0.1 with the flags the case
needs (the embedded model unless --model is given). Before a case the server's peak RSS is reset
(`/proc/PID/clear_refs`), so its growth is what that case cost: VmHWM after minus VmRSS before.
The tests in tests/server/tools/test_hostile.py run the same cases against a tiny model and assert on
the targets (answered within 5 s, peak growth <= 500 MB, the expected status code).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import grpc

from server.tools.hostile_calls import Outcome
from server.tools.hostile_cases import CASES, Case
from server.tools.server_process import REPO, ServerProcess, server


def run_case(case: Case, running: ServerProcess) -> Outcome:
    with grpc.insecure_channel(running.address, options=[("grpc.max_receive_message_length", 1 << 30)]) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        before = running.reset_peak()
        started = time.monotonic()
        outcome = case.run(channel, running)
        outcome.seconds = round(time.monotonic() - started, 3)
        outcome.peak_growth_mb = round(running.peak_mb() - before, 1)
    return outcome


def markdown_table(results: dict) -> str:
    rows = ["| case (issue item) | answer | seconds | peak RSS growth | figures | targets |",
            "|---|---|---|---|---|---|"]
    for name, r in results.items():
        figures = ", ".join(f"{k} {v}" for k, v in r["details"].items() if not isinstance(v, dict))
        figures = figures or ", ".join(f"{k}: {v['code']} {v['seconds']} s" for k, v in r["details"].items())
        rows.append(f"| {name} ({r['item']}) | {r['code']} | {r['seconds']:.2f} | {r['peak_growth_mb']:.0f} MB | "
                    f"{figures} | {'; '.join(r['failures']) or 'met'} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="the server's --model (default: the embedded model)")
    parser.add_argument("--models-dir", type=Path, help="for server_paths_in_messages: a folder with a broken model")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--checkout", type=Path, default=REPO,
                        help="run the server from this checkout (e.g. an older commit, to compare)")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    parser.add_argument("--markdown", type=Path, help="write them as a markdown table here")
    args = parser.parse_args(argv)
    chosen = [c for c in CASES if not args.cases or c.name in args.cases.split(",")]
    results = {}
    for case in chosen:
        flags = list(case.flags)
        if flags[-1:] == ["--models-dir"]:  # the folder follows the flag
            if args.models_dir is None:
                print(f"{case.name}: skipped (needs --models-dir)")
                continue
            flags.append(str(args.models_dir))
        if args.model:
            flags += ["--model", args.model]
        with server(*flags, checkout=args.checkout) as running:
            outcome = run_case(case, running)
        failures = case.failures(outcome)
        results[case.name] = dict(asdict(outcome), item=case.label, expect=case.expect, failures=failures)
        print(f"{case.name:34s} {outcome.code:20s} {outcome.seconds:7.2f}s {outcome.peak_growth_mb:8.1f}MB "
              f"{'; '.join(failures) or 'ok'} | {outcome.message[:70]!r} {outcome.details}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown_table(results))
    return 0 if not any(r["failures"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
