"""Application-consistency benchmark: crash-consistent vs agent-quiesced snapshots.

``python -m bench trials [--count N] [--seed S] [--rate TPS] [--via V] [--json]`` runs N trials of
each mode (default 200) through :mod:`simulators.agent.trials` on private appliances, prints the
violation counts side by side and the application's pause per quiesced snapshot, and checks the
goals: zero violations in app mode, median pause <= 100 ms. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import sys

PAUSE_GOAL_MS = 100.0


def main(argv: list[str] | None = None) -> int:
    from simulators.agent.trials import MODES, VIAS, TrialConfig, format_table, run_trials

    parser = argparse.ArgumentParser(prog="python -m bench trials", description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--via", choices=VIAS, default="timeview",
                        help="recovered-image step: timeview, export, replica, sra")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv or [])
    cfg = TrialConfig(count=args.count, seed=args.seed, rate_tps=args.rate)
    summaries = run_trials(list(MODES), cfg, via=args.via)
    result = {m: s.to_dict() for m, s in summaries.items()}
    app = result["app"]
    median = app["pause_ms"]["median"]
    goals = {"app_zero_violations": app["violations_total"] == 0
             and app["snapshot_failures"] == 0,
             "crash_shows_violations": result["crash"]["images_with_violations"] > 0,
             "median_pause_le_100ms": median is not None and median <= PAUSE_GOAL_MS}
    if args.json:
        print(json.dumps({"config": vars(args), "modes": result, "goals": goals}, indent=2))
    else:
        print(f"trials: {args.count} per mode, seed {args.seed}, workload {args.rate:g} tps, "
              f"recovered via {args.via}")
        print(format_table(summaries))
        for goal, met in goals.items():
            print(f"{'ok  ' if met else 'MISS'} {goal}")
    return 0 if goals["app_zero_violations"] and goals["median_pause_le_100ms"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
