"""``flowdeck runs compare``: what the compare page shows, in the terminal. Differences first
(run facts, params, tags, spec), then each metric's last value, best value or value at a step,
read from the server's compare API in one request; ``--save`` makes it a shared view."""
from __future__ import annotations

import argparse

from .cli_common import _emit
from .client import Client

SECTIONS = ("run", "params", "tags", "spec")


def add_compare_parser(runs_sub, common: argparse.ArgumentParser, func) -> None:
    p = runs_sub.add_parser("compare", parents=[common], help="show how runs differ: params first, then metrics")
    p.add_argument("run_ids", type=int, nargs="+")
    p.add_argument("--all", action="store_true", help="show values that are the same too")
    p.add_argument("--at", choices=["last", "best", "step"], default="last",
                   help="each run's last value (default), its best, or its value at --step")
    p.add_argument("--step", type=int, help="the step for --at step (the last point at or before it)")
    p.add_argument("--save", metavar="TITLE", nargs="?", const="", default=None,
                   help="save the comparison as a view with a short link (shared with your namespace's members)")
    p.add_argument("--namespace", help="with --save: the team to share the view with")
    p.set_defaults(func=func)


def _text(value) -> str:
    return "—" if value is None else str(value)


def compare_command(client: Client, args) -> None:
    options = {"at": args.at, "step": args.step, "max_points": 10}  # no charts here: a tiny series sample
    body = client.compare(args.run_ids, **options)
    runs = body["runs"]
    ids = tuple(str(r["id"]) for r in runs)
    rows = [(f"{section}.{row['key']}" if section != "run" else row["key"], row)
            for section in SECTIONS for row in body["diff"][section]]
    shown = [(k, r) for k, r in rows if args.all or not r["same"]]
    metrics = body["metrics"]["table"]
    value, step = {"last": ("last", "last_step"), "best": ("best", "best_step"),
                   "step": ("at_step", "at_step_step")}[args.at]
    saved = None
    if args.save is not None:
        saved = client.comparison_save([r["id"] for r in runs], title=args.save, namespace=args.namespace,
                                       options={k: v for k, v in {"at": args.at, "step": args.step}.items()
                                                if v is not None and v != "last"})
    if args.json:
        _emit(args, {"runs": [r["id"] for r in runs],
                     "differing": {k: r["values"] for k, r in shown},
                     "metrics": {m["key"]: [{"value": m[value][i], "step": m[step][i], "last": m["last"][i],
                                             "min": m["min"][i], "max": m["max"][i]} for i in range(len(runs))]
                                 for m in metrics},
                     "saved": saved})
        return
    differing = sum(not r["same"] for _, r in rows)
    print("Differing values" + (" (all shown)" if args.all else f" ({differing} of {len(rows)}; --all shows all)") + ":")
    if shown:
        _emit(args, None, [(k, *(_text(v) for v in r["values"])) for k, r in shown], ("KEY", *ids))
    else:
        print("  (none)")
    for link in (v for versions in body["diff"]["versions"] for v in versions["links"]):
        print(f"Versions differ: {client.url}{link['url']}")
    title = {"last": "last value", "best": "best value", "step": f"value at step {args.step}"}[args.at]
    print(f"Metrics ({title}):")
    _emit(args, None, [(m["key"] + (" ↓" if m["goal"] == "min" else " ↑"),
                        *("—" if m[value][i] is None else f"{m[value][i]:.6g} @{m[step][i]}" for i in range(len(runs))))
                       for m in metrics], ("METRIC", *ids))
    page = f"{client.url}/compare/?runs={','.join(ids)}" + (f"&at={args.at}" if args.at != "last" else "") + (
        f"&step={args.step}" if args.at == "step" else "")
    print(f"Charts: {page}")
    if saved:
        print(f"Saved: {client.url}{saved['url']}")
