"""`flowdeck teams`, `flowdeck tokens` and `flowdeck audit`."""
from __future__ import annotations

import argparse
import sys

from .cli_common import _client, _emit

SCOPES = ("read", "write", "run", "admin")
ROLES = ("viewer", "editor", "admin")
_UNSET = object()  # a quota option not given (None means "back to the site default")


def _limit(value: str) -> int | None:
    if value.strip().lower() == "default":
        return None
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number or 'default'") from None
    if number < 0:
        raise argparse.ArgumentTypeError("a quota is at least 0 (0: no limit)")
    return number


def _fmt_limit(value: int) -> str:
    return "no limit" if not value else str(value)


def _of(value: int) -> str:
    return " (no limit)" if not value else f" (limit {value})"


def _print_team(body: dict) -> None:
    eff, usage = body["quota"]["effective"], body["usage"]
    print(f"{body['slug']}  {body['display_name']}{'  (personal)' if body['personal'] else ''}  your role: {body['role']}")
    print(f"  runs now {usage['current_runs']}{_of(eff['max_concurrent_runs'])}, "
          f"{usage['waiting_runs']} waiting for quota; {usage['runs_this_month']} this month")
    print(f"  storage {usage['storage_bytes']} bytes{_of(eff['max_storage_bytes'])}; "
          f"max run duration {_fmt_limit(eff['max_run_duration_s'])}{' s' if eff['max_run_duration_s'] else ''}")
    for m in body["members"]:
        print(f"  {m['role']:<7} {m['username']}")


def cmd_teams(args) -> int:
    with _client(args) as client:
        if args.action == "list":
            body = client.teams()
            _emit(args, body, [(t["slug"], t["display_name"], "personal" if t["personal"] else "team") for t in body],
                  ("TEAM", "NAME", "KIND"))
            return 0
        if args.action == "create":
            body = client.team_create(args.slug, display_name=args.display_name or "", description=args.description or "")
            message = f"Created team {body['slug']}; you are its admin."
        elif args.action == "add-member":
            body = client.member_set(args.team, args.username, args.role)
            message = f"{body['username']} is {body['role']} of {args.team}."
        elif args.action == "set-role":
            body = client.member_set(args.team, args.username, args.role)
            message = f"{body['username']} is {body['role']} of {args.team}."
        elif args.action == "remove-member":
            client.member_remove(args.team, args.username)
            body, message = {"removed": args.username, "team": args.team}, f"Removed {args.username} from {args.team}."
        elif args.action == "quota":
            limits = {k: getattr(args, k) for k in ("max_concurrent_runs", "max_storage_bytes", "max_run_duration_s")
                      if getattr(args, k) is not _UNSET}
            body = client.quota_set(args.team, **limits) if limits else client.team(args.team)["quota"]
            eff = body["effective"]
            message = (f"{args.team}: max concurrent runs {_fmt_limit(eff['max_concurrent_runs'])}, "
                       f"max storage bytes {_fmt_limit(eff['max_storage_bytes'])}, "
                       f"max run duration {_fmt_limit(eff['max_run_duration_s'])}")
        else:  # show
            body = client.team(args.team)
            if not args.json:
                _print_team(body)
                return 0
            message = ""
    if args.json:
        _emit(args, body)
    elif message:
        print(message)
    return 0


def cmd_tokens(args) -> int:
    with _client(args) as client:
        if args.action == "list":
            body = client.tokens(team=args.team)
            rows = [(str(t["id"]), t["name"], t["prefix"], ",".join(t["scopes"]),
                     str(t["expires_at"] or "never")[:16], "active" if t["active"] else "revoked/expired")
                    for t in body]
            _emit(args, body, rows, ("ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "STATE"))
            return 0
        if args.action == "create":
            body = client.token_create(args.name, scopes=args.scope or None, expires_in_days=args.expires_in_days,
                                       team=args.team)
            if not args.json:
                kind = f"service token of {body['team']}" if body.get("team") else "personal token"
                print(f"Created {kind} {body['id']} '{body['name']}' ({', '.join(body['scopes'])}).")
                print(f"Token: {body['token']}")
                print("It is shown this once; store it now (e.g. flowdeck login --token ...).", file=sys.stderr)
        else:  # revoke
            body = client.token_revoke(args.token_id)
            if not args.json:
                print(f"Revoked token {body['id']} '{body['name']}' ({body['prefix']}); it no longer works.")
    if args.json:
        _emit(args, body)
    return 0


def cmd_audit(args) -> int:
    filters = {k: getattr(args, k) or "" for k in ("action", "actor", "target", "since", "until")}
    with _client(args) as client:
        if args.export:
            data = client.audit_export(args.team, fmt=args.export, **filters)
            if args.output:
                with open(args.output, "wb") as fh:
                    fh.write(data)
                print(f"Wrote {len(data)} bytes to {args.output}.")
            else:
                sys.stdout.write(data.decode())
            return 0
        body = client.audit(args.team, limit=args.limit, **filters)
    rows = [(e["at"][:19], e["actor"], e["action"], f"{e['target_type']} {e['target']}", e["ip"] or "-")
            for e in body["results"]]
    _emit(args, body, rows, ("WHEN", "WHO", "ACTION", "TARGET", "IP"))
    if not args.json and body["count"] > len(rows):
        print(f"({len(rows)} of {body['count']}; --limit for more, --export csv for all)")
    return 0


def add_accounts_parsers(sub, common: argparse.ArgumentParser) -> None:
    teams = sub.add_parser("teams", help="teams, members and quotas").add_subparsers(dest="action", required=True)
    teams.add_parser("list", parents=[common], help="the teams you belong to").set_defaults(func=cmd_teams)
    p = teams.add_parser("show", parents=[common], help="members, quotas and usage")
    p.add_argument("team")
    p.set_defaults(func=cmd_teams)
    p = teams.add_parser("create", parents=[common], help="create a team (you become its admin)")
    p.add_argument("slug")
    p.add_argument("--display-name")
    p.add_argument("--description")
    p.set_defaults(func=cmd_teams)
    p = teams.add_parser("add-member", parents=[common], help="add a member (team admins)")
    p.add_argument("team")
    p.add_argument("username")
    p.add_argument("--role", choices=ROLES, default="viewer")
    p.set_defaults(func=cmd_teams)
    p = teams.add_parser("set-role", parents=[common], help="change a member's role (team admins)")
    p.add_argument("team")
    p.add_argument("username")
    p.add_argument("role", choices=ROLES)
    p.set_defaults(func=cmd_teams)
    p = teams.add_parser("remove-member", parents=[common], help="remove a member (team admins), or leave")
    p.add_argument("team")
    p.add_argument("username")
    p.set_defaults(func=cmd_teams)
    p = teams.add_parser("quota", parents=[common], help="show or set quotas (0: no limit; 'default': site default)")
    p.add_argument("team")
    p.add_argument("--max-concurrent-runs", type=_limit, default=_UNSET, metavar="N")
    p.add_argument("--max-storage-bytes", type=_limit, default=_UNSET, metavar="BYTES")
    p.add_argument("--max-run-duration", dest="max_run_duration_s", type=_limit, default=_UNSET, metavar="SECONDS")
    p.set_defaults(func=cmd_teams)

    tokens = sub.add_parser("tokens", help="API tokens").add_subparsers(dest="action", required=True)
    p = tokens.add_parser("list", parents=[common], help="your tokens, or a team's service tokens")
    p.add_argument("--team", help="a team's service tokens (team admins)")
    p.set_defaults(func=cmd_tokens)
    p = tokens.add_parser("create", parents=[common], help="a new token (printed once)")
    p.add_argument("name")
    p.add_argument("--scope", action="append", choices=SCOPES, help="repeat for several (default: read, write, run)")
    p.add_argument("--expires-in-days", type=int)
    p.add_argument("--team", help="make a service token of this team (team admins)")
    p.set_defaults(func=cmd_tokens)
    p = tokens.add_parser("revoke", parents=[common], help="revoke a token at once")
    p.add_argument("token_id", type=int)
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("audit", parents=[common], help="a team's audit log (team admins)")
    p.add_argument("team")
    p.add_argument("--action", help="e.g. run.start, or a family: run, token, member")
    p.add_argument("--actor", help="a username, or system")
    p.add_argument("--target")
    p.add_argument("--since", help="a date or ISO time")
    p.add_argument("--until", help="a date (inclusive) or ISO time")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--export", choices=("csv", "jsonl"), help="print (or --output) every matching entry")
    p.add_argument("--output", "-o", help="file for --export")
    p.set_defaults(func=cmd_audit)
