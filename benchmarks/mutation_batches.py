"""The mutation score's two ways of running defects, side by side: one pytest process per defect, or batches.

The same sample of registered defects (both APIs) is scored twice in alternating rounds: each defect alone in a
fresh pytest process (harness.mutation.run_suite, what the score did before), and the whole sample in one batch
process per API (harness.mutation.run_batch, harness/mutation_batch.py). It prints the seconds of each, their
ratio, and whether both agree on every defect (caught or not); they must.

Run: `python benchmarks/mutation_batches.py [--defects 20] [--rounds 2] [--seed 1]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from harness.mutation import _first_tests, registered_defects, run_batch, run_suite
from harness.paths import suites_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defects", type=int, default=20, help="how many defects to sample (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="sample seed (default 1)")
    args = parser.parse_args()
    sample = random.Random(args.seed).sample(registered_defects(), args.defects)
    root = suites_dir()
    alone_times, batch_times = [], []
    disagree: set[str] = set()
    for round_no in range(1, args.rounds + 1):
        started = time.monotonic()
        alone = {name: run_suite(root / api, name, hint=f"{area} {name}", first=_first_tests(name))[0] == "caught"
                 for name, api, area, _ in sample}
        alone_times.append(time.monotonic() - started)
        started = time.monotonic()
        batched: dict[str, bool] = {}
        for api in sorted({d[1] for d in sample}):
            found = run_batch(root / api, [d for d in sample if d[1] == api])
            batched.update({name: caught_by is not None for name, (caught_by, _) in found.items()})
        batch_times.append(time.monotonic() - started)
        disagree |= {name for name in alone if alone[name] != batched.get(name)}
        print(f"round {round_no}/{args.rounds}: alone {alone_times[-1]:.1f} s, batched {batch_times[-1]:.1f} s")
    a, b = statistics.median(alone_times), statistics.median(batch_times)
    print(f"\n{len(sample)} defects, median of {args.rounds} rounds: a process per defect {a:.1f} s, "
          f"batches {b:.1f} s: batches take {b / a:.2f}x the time")
    print("agreement: every defect judged alike" if not disagree else f"DISAGREE on: {', '.join(sorted(disagree))}")
    return 1 if disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())
