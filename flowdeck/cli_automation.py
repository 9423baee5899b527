"""`flowdeck schedule` and `flowdeck trigger`: recurring runs and webhooks that start runs."""
from __future__ import annotations

import argparse
import json

from .cli_common import _client, _emit, _parse_params
from .errors import FlowdeckError


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, path = pair.partition("=")
        if not sep or not key.strip() or not path.strip():
            raise FlowdeckError(f"--map takes PARAM=PATH (e.g. data_path=$.object.key), got '{pair}'.")
        mapping[key.strip()] = path.strip()
    return mapping


def _schedule_state(s: dict) -> str:
    return "paused" if s["paused"] else f"next {str(s['next_fire_at'])[:16]}"


def cmd_schedule(args) -> int:
    with _client(args) as client:
        if args.action == "create":
            body = client.schedule_create(
                args.workflow, cron=args.cron, params=_parse_params(args.param), timezone=args.timezone,
                name=args.name or "", skip_if_running=not args.allow_overlap, max_retries=args.retries,
                namespace=args.namespace,
            )
            if not args.json:
                print(f"Schedule {body['id']}: {body['workflow']}@{body['version']} at '{body['cron']}' "
                      f"({body['timezone']}), runs in {body['namespace']}; next run {body['next_fire_at']}.")
        elif args.action == "list":
            body = client.schedules(workflow=args.workflow)
            _emit(args, body, [(str(s["id"]), f"{s['workflow']}@{s['version']}", s["cron"], s["timezone"],
                                _schedule_state(s), s["name"]) for s in body],
                  ("ID", "WORKFLOW", "CRON", "TZ", "STATE", "NAME"))
            return 0
        elif args.action == "show":
            body = client.schedule(args.schedule_id)
            if not args.json:
                print(f"Schedule {body['id']}: {body['workflow']}@{body['version']} at '{body['cron']}' "
                      f"({body['timezone']}), {_schedule_state(body)}")
                for f in body["firings"]:
                    run = f"run {f['run']} {f['run_status']}" if f["run"] else "-"
                    print(f"  {str(f['fired_at'])[:19]}  {f['outcome']:<8} {run}  {f['reason']}".rstrip())
        elif args.action == "delete":
            client.schedule_delete(args.schedule_id)
            body = {"deleted": args.schedule_id}
            if not args.json:
                print(f"Deleted schedule {args.schedule_id}.")
        else:  # pause, resume
            body = getattr(client, f"schedule_{args.action}")(args.schedule_id)
            if not args.json:
                print(f"Schedule {body['id']} is {'paused' if body['paused'] else 'active; next run ' + str(body['next_fire_at'])}.")
    if args.json:
        _emit(args, body)
    return 0


def cmd_trigger(args) -> int:
    with _client(args) as client:
        if args.action == "create":
            body = client.trigger_create(args.workflow, mapping=_parse_mapping(args.map), params=_parse_params(args.param),
                                         name=args.name or "", namespace=args.namespace)
            if not args.json:
                print(f"Trigger {body['id']} runs {body['workflow']}@{body['version']} in {body['namespace']}.")
                print(f"URL:    {body['url']}")
                print(f"Secret: {body['secret']}  (shown once; keep it safe)")
                print(f"Send it as '{body['headers']['secret']}: <secret>', or sign the body: "
                      f"'{body['headers']['signature']}: sha256=<hex HMAC-SHA256 of the body>'.")
        elif args.action == "list":
            body = client.triggers(workflow=args.workflow)
            _emit(args, body, [(str(t["id"]), f"{t['workflow']}@{t['version']}", json.dumps(t["mapping"]), t["url"], t["name"])
                               for t in body], ("ID", "WORKFLOW", "MAPPING", "URL", "NAME"))
            return 0
        elif args.action == "show":
            body = client.trigger(args.trigger_id)
            if not args.json:
                print(f"Trigger {body['id']}: {body['workflow']}@{body['version']}  {body['url']}")
                for d in body["deliveries"]:
                    print(f"  {str(d['received_at'])[:19]}  {d['status']}  {('run ' + str(d['run'])) if d['run'] else '-'}  {d['error']}".rstrip())
        else:  # delete
            client.trigger_delete(args.trigger_id)
            body = {"deleted": args.trigger_id}
            if not args.json:
                print(f"Deleted trigger {args.trigger_id}; its URL no longer works.")
    if args.json:
        _emit(args, body)
    return 0


def add_automation_parsers(sub, common: argparse.ArgumentParser) -> None:
    schedule = sub.add_parser("schedule", help="recurring runs").add_subparsers(dest="action", required=True)
    p = schedule.add_parser("create", parents=[common], help="run a workflow on a cron schedule")
    p.add_argument("workflow", help="namespace/name (the latest version at each run) or namespace/name@version")
    p.add_argument("--cron", required=True, help="'minute hour day-of-month month day-of-week', e.g. '0 3 * * *'")
    p.add_argument("--timezone", default="UTC", help="IANA name (default: UTC)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--name")
    p.add_argument("--namespace", help="where the runs go (default: the workflow's if you may run there, else yours)")
    p.add_argument("--retries", type=int, default=0, help="retry a failed run this many times")
    p.add_argument("--allow-overlap", action="store_true", help="start a run even while the previous one is going")
    p.set_defaults(func=cmd_schedule)
    p = schedule.add_parser("list", parents=[common])
    p.add_argument("--workflow", help="namespace/name")
    p.set_defaults(func=cmd_schedule)
    for action in ("show", "pause", "resume", "delete"):
        p = schedule.add_parser(action, parents=[common])
        p.add_argument("schedule_id", type=int)
        p.set_defaults(func=cmd_schedule)

    trigger = sub.add_parser("trigger", help="webhooks that start runs").add_subparsers(dest="action", required=True)
    p = trigger.add_parser("create", parents=[common], help="a webhook URL and secret that start a run")
    p.add_argument("workflow", help="namespace/name (the latest version at each run) or namespace/name@version")
    p.add_argument("--map", "-m", action="append", default=[], metavar="PARAM=PATH",
                   help="a parameter from the posted JSON, e.g. data_path=$.object.key")
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE", help="a fixed parameter")
    p.add_argument("--name")
    p.add_argument("--namespace", help="where the runs go (default: the workflow's if you may run there, else yours)")
    p.set_defaults(func=cmd_trigger)
    p = trigger.add_parser("list", parents=[common])
    p.add_argument("--workflow", help="namespace/name")
    p.set_defaults(func=cmd_trigger)
    for action in ("show", "delete"):
        p = trigger.add_parser(action, parents=[common])
        p.add_argument("trigger_id", type=int)
        p.set_defaults(func=cmd_trigger)
