"""The ``flowdeck`` command. Errors are one line and a non-zero exit (``--debug`` shows the traceback)."""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import config
from .cli_accounts import add_accounts_parsers
from .cli_automation import add_automation_parsers
from .cli_common import _client, _emit, _parse_params
from .cli_compare import add_compare_parser, compare_command
from .client import Client
from .errors import FlowdeckError
from .spec import SpecError

FINAL = {"succeeded", "failed", "stopped"}


# --- commands ----------------------------------------------------------------------------------
def cmd_login(args) -> int:
    url = args.url or config.load().url or "http://127.0.0.1:8000"
    token = args.token
    if not token:
        import getpass

        username = args.username or input("Username: ")
        password = getpass.getpass("Password: ")
        with Client(url, "") as anon:
            token = anon.request("POST", "/api/v1/auth/token", json={"username": username, "password": password, "name": "cli"})["token"]
    with Client(url, token) as client:
        me = client.me()
    path = config.save(url, token)
    print(f"Logged in to {url} as {me['username']}; token saved in {path} (mode 600).")
    return 0


def cmd_whoami(args) -> int:
    with _client(args) as client:
        me = client.me()
    _emit(args, me, [(me["username"], ", ".join(me["namespaces"]))], ("USER", "NAMESPACES"))
    return 0


def cmd_publish(args) -> int:
    from .loader import load_workflow
    from .publish import publish_plan

    wf, root = load_workflow(args.path)
    plan = publish_plan(wf, root)
    bundle = plan["bundle"]
    print(f"{wf.name}: {len(plan['spec']['steps'])} steps, {len(plan['spec']['params'])} params; "
          f"bundle {bundle.size} bytes, {len(bundle.files)} files, sha256 {bundle.digest[:12]}")
    if args.dry_run:
        for rel, size in bundle.files:
            print(f"  {size:>10}  {rel}")
        print("Dry run: nothing was uploaded.")
        return 0
    with _client(args) as client:
        version = client.publish(
            spec=plan["spec"], bundle=bundle.data, version=args.version, namespace=args.namespace,
            readme=plan["readme"], changelog=args.changelog or "", visibility=args.visibility,
            tags=[t for t in (args.tags or "").split(",") if t],
        )
    if args.json:
        _emit(args, version)
    else:
        print(f"Published {version['asset']}@{version['version']}")
    return 0


def cmd_search(args) -> int:
    with _client(args) as client:
        found = client.search(args.query or "", tag=args.tag or "", sort=args.sort)
    _emit(args, found, [(a["full_name"], a["latest_version"] or "-", a["visibility"], (a["description"] or "")[:60]) for a in found],
          ("WORKFLOW", "LATEST", "VISIBILITY", "DESCRIPTION"))
    return 0


def cmd_subscribe(args) -> int:
    with _client(args) as client:
        body = client.unsubscribe(args.workflow) if args.remove else client.subscribe(args.workflow, pin=args.pin)
    if args.json:
        _emit(args, body)
    elif body["subscribed"]:
        print(f"Subscribed to {body['asset']} ({'pinned to ' + body['pinned_version'] if body['pinned_version'] else 'following the latest version'}).")
    else:
        print(f"Unsubscribed from {body['asset']}.")
    return 0


def cmd_yank(args) -> int:
    if not args.undo and not (args.reason or "").strip():
        raise FlowdeckError("--reason is required to yank (or pass --undo).")
    with _client(args) as client:
        body = client.version_unyank(args.workflow) if args.undo else client.version_yank(args.workflow, reason=args.reason)
    if args.json:
        _emit(args, body)
    elif body["yanked"]:
        print(f"Yanked {body['asset']}@{body['version']}: new runs of it are refused.")
    else:
        print(f"{body['asset']}@{body['version']} is no longer yanked.")
    return 0


def cmd_deprecate(args) -> int:
    ref = f"{args.workflow}@{args.version}" if args.version else args.workflow
    with _client(args) as client:
        body = client.version_deprecate(ref, successor=args.successor, message=args.message or "")
    if args.json:
        _emit(args, body)
    else:
        print(f"Deprecated {body['asset']}@{body['version']}" + (f"; use {body['successor']} instead." if body["successor"] else ".")
              + " It can still be run.")
    return 0


def _version_state(v: dict) -> str:
    states = []
    if v.get("yanked"):
        states.append(f"yanked: {v.get('yank_reason') or 'no reason given'}")
    if v.get("deprecated"):
        states.append(f"deprecated → {v['successor']}" if v.get("successor") else "deprecated")
    return "; ".join(states) or "-"


def cmd_versions(args) -> int:
    with _client(args) as client:
        versions = client.versions(args.workflow)
    table = [
        (v["version"], str(v["published_at"])[:10], v["published_by"], _version_state(v),
         ((v.get("changelog") or "").strip().splitlines() or [""])[0][:60])
        for v in versions
    ]
    _emit(args, versions, table, ("VERSION", "PUBLISHED", "BY", "STATE", "CHANGELOG"))
    return 0


def cmd_fork(args) -> int:
    with _client(args) as client:
        body = client.fork(args.workflow, namespace=args.namespace, name=args.name)
    if args.json:
        _emit(args, body)
    else:
        print(f"Forked {body['forked_from']} to {body['asset']}@{body['version']}.")
    return 0


def _follow(client: Client, run: dict, *, logs: bool) -> dict:
    """Print step status changes (and, with --follow, each step's log as it grows) until the run ends."""
    seen: dict[str, str] = {}
    tails: dict[str, dict] = {}
    while True:
        for step in run["steps"]:
            if seen.get(step["name"]) != step["status"]:
                seen[step["name"]] = step["status"]
                extra = f"  {step['error']}" if step.get("error") else ""
                print(f"  {step['name']:<24} {step['status']}{extra}", flush=True)
            if logs and step["attempt"] and step["status"] != "skipped":
                tail = tails.setdefault(step["name"], {"offset": 0, "attempt": None, "partial": "", "done": False})
                _print_log_lines(client, run["id"], step["name"], tail, drain=run["status"] in FINAL)
        if run["status"] in FINAL:
            return run
        time.sleep(0.5)
        run = client.run(run["id"])


def _print_log_lines(client: Client, run_id: int, name: str, tail: dict, *, drain: bool) -> None:
    """Print the whole lines a step's log gained since ``tail`` (once, or all of it with ``drain``)."""
    while not tail["done"]:
        body = client.step_log(run_id, name, offset=tail["offset"], attempt=tail["attempt"])
        if tail["attempt"] is not None and body["attempt"] != tail["attempt"]:
            tail["partial"] = ""
            print(f"    | -- {name}: attempt {body['attempt']} --", flush=True)
        *lines, tail["partial"] = (tail["partial"] + body["text"]).split("\n")
        tail.update(offset=body["next_offset"], attempt=body["attempt"], done=body["complete"])
        if tail["done"] and tail["partial"]:
            lines.append(tail["partial"])
        print("".join(f"    | {line}\n" for line in lines), end="", flush=True)
        if not drain or not body["text"]:
            return


def cmd_run(args) -> int:
    with _client(args) as client:
        steps = [s.strip() for s in (args.steps or "").split(",") if s.strip()] or None
        if (steps is None) != (args.from_run is None):
            raise FlowdeckError("--steps and --from-run go together: the steps to run, and the run to take the others' outputs from.")
        run = client.run_start(args.workflow, params=_parse_params(args.param), name=args.name or "",
                               steps=steps, source_run=args.from_run, namespace=args.namespace)
        if not args.json:
            print(f"Started run {run['id']} of {run['workflow']}@{run['version']}: {client.url}/runs/{run['id']}/")
            if run["status"] == "waiting":
                print(f"It waits for quota: {run['namespace']} already runs as many runs as it may; "
                      "it starts when one ends.")
        if args.wait or args.follow:
            run = _follow(client, run, logs=args.follow) if not args.json else _wait_quiet(client, run)
            if not args.json:
                print(f"Run {run['id']} {run['status']}" + (f": {run['error']}" if run.get("error") else ""))
    if args.json:
        _emit(args, run)
    return 0 if run["status"] in ("succeeded", "queued", "running", "waiting") else 1


def _wait_quiet(client: Client, run: dict) -> dict:
    while run["status"] not in FINAL:
        time.sleep(0.5)
        run = client.run(run["id"])
    return run


def cmd_runs(args) -> int:
    with _client(args) as client:
        if args.action == "list":
            runs = client.runs(workflow=args.workflow, status=args.status, limit=args.limit)
            _emit(args, runs, [(str(r["id"]), f"{r['workflow']}@{r['version']}", r["status"], r["created_by"], str(r["created_at"])[:19]) for r in runs],
                  ("ID", "WORKFLOW", "STATUS", "BY", "CREATED"))
        elif args.action == "show":
            run = client.run(args.run_id)
            if args.json:
                _emit(args, run)
            else:
                print(f"Run {run['id']}  {run['workflow']}@{run['version']}  {run['status']}")
                if run.get("parent"):
                    print(f"part of run {run['parent']['run']} (sub-workflow step {run['parent']['step']})")
                print(f"params: {json.dumps(run['params'])}")
                _emit(args, run, [(s["name"], s["status"] + (f" (child run {s['child_run']})" if s.get("child_run") else ""),
                                   f"{s['duration_s'] or 0:.2f}s", s["error"] or "") for s in run["steps"]],
                      ("STEP", "STATUS", "TIME", "ERROR"))
                for m in run["metrics"]:
                    print(f"metric {m['key']}: last {m['last']:.6g} (step {m['last_step']}), min {m['min']:.6g}, max {m['max']:.6g}")
                for a in run["artifacts"]:
                    print(f"artifact {a['path']} ({a['size']} bytes)")
        elif args.action == "stop":
            run = client.run_stop(args.run_id)
            print(f"Run {run['id']} {run['status']}.")
        elif args.action in ("retry", "copy"):
            if args.action == "retry":
                edits = _parse_params(args.param)
                run = client.run_retry(args.run_id, params=edits or None)
                print(f"Retrying run {run['id']}: steps that did not succeed"
                      + (f", and those that read {', '.join(sorted(edits))}," if edits else "") + " run again.")
            else:
                run = client.run_copy(args.run_id, params=_parse_params(args.param), name=args.name or "")
                print(f"Started run {run['id']}, a copy of run {args.run_id}.")
            if args.wait:
                run = _follow(client, run, logs=False)
                print(f"Run {run['id']} {run['status']}" + (f": {run['error']}" if run.get("error") else ""))
                return 0 if run["status"] == "succeeded" else 1
        elif args.action == "delete":
            body = client.run_delete(args.run_id)
            print(f"Deleted run {body['deleted']} and {body['files_removed']} stored files.")
        elif args.action == "compare":
            compare_command(client, args)
    return 0


def cmd_upload(args) -> int:
    """Send a local run (metrics, params, tags, artifacts) to the server as a tracked run."""
    import uuid
    from pathlib import Path

    from .selection import find_run

    source = find_run(Path(args.track_dir), args.run)
    folder = source.folder
    record = json.loads((folder / "run.json").read_text())

    def read_json(name: str) -> dict:
        path = folder / name
        return json.loads(path.read_text()) if path.is_file() else {}

    points = []
    metrics_path = folder / "metrics.jsonl"
    if metrics_path.is_file():
        points = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    artifacts = sorted(p for p in (folder / "artifacts").rglob("*") if p.is_file()) if (folder / "artifacts").is_dir() else []
    with _client(args) as client:
        run = client.tracked_run_create(
            experiment=args.experiment or record.get("workflow") or "default", name=record["id"],
            tags={"flowdeck.source": "upload", "flowdeck.local_run": record["id"], **read_json("tags.json")},
        )
        client.log_batch(run["id"], params={**{f"param.{k}": json.dumps(v) for k, v in record.get("params", {}).items()},
                                            **read_json("params.json")}, batch_id=uuid.uuid4().hex)
        for start in range(0, len(points), 10_000):
            client.log_batch(run["id"], metrics=points[start:start + 10_000], batch_id=uuid.uuid4().hex)
        for path in artifacts:
            client.artifact_upload(run["id"], path, path.relative_to(folder / "artifacts").as_posix())
        status = record.get("status", "succeeded")
        client.run_end(run["id"], status if status in ("succeeded", "failed", "stopped") else "failed")
        print(f"Uploaded {record['id']} as run {run['id']} ({len(points)} metric points, {len(artifacts)} artifacts): "
              f"{client.run_url(run['id'])}")
    return 0


def cmd_logs(args) -> int:
    with _client(args) as client:
        run = client.run(args.run_id)
        step = args.step_name or args.step
        names = [step] if step else [s["name"] for s in run["steps"]]
        for name in names:
            if args.follow:
                _follow_log(client, args.run_id, name)
                continue
            body = client.step_log(args.run_id, name)
            print(f"== {name} ==" + (" (truncated)" if body["truncated"] else ""))
            print(body["log"], end="" if body["log"].endswith("\n") else "\n")
    return 0


def _follow_log(client: Client, run_id: int, step: str) -> None:
    """Print a step's log as it grows, until the step has ended and all of it is printed."""
    offset, attempt = 0, None
    while True:
        body = client.step_log(run_id, step, offset=offset, attempt=attempt)
        if attempt is None:
            print(f"== {step} ==", flush=True)  # once the step is known to exist
        elif body["attempt"] != attempt:
            print(f"\n-- attempt {body['attempt']} --", flush=True)
        if body["truncated"]:
            print(f"(the log is long: showing it from byte {body['start']})", flush=True)
        print(body["text"], end="", flush=True)
        offset, attempt = body["next_offset"], body["attempt"]
        if body["complete"]:
            if body["text"] and not body["text"].endswith("\n"):
                print()
            return
        if not body["text"]:  # nothing new yet; when there was, more may be waiting already
            time.sleep(1.0)


# --- parser ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="server URL (default: FLOWDECK_URL or the saved login)")
    common.add_argument("--token", help="API token (default: FLOWDECK_TOKEN or the saved login)")
    common.add_argument("--json", action="store_true", help="print JSON")
    common.add_argument("--debug", action="store_true", help="show tracebacks")

    parser = argparse.ArgumentParser(prog="flowdeck", description="Define, publish, run and compare ML workflows.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("login", parents=[common], help="save a server URL and token")
    p.add_argument("--username")
    p.set_defaults(func=cmd_login)

    sub.add_parser("whoami", parents=[common], help="show the current user").set_defaults(func=cmd_whoami)

    p = sub.add_parser("publish", parents=[common], help="publish a workflow folder as a new version")
    p.add_argument("path", nargs="?", default=".", help="folder, FILE.py or FILE.py:NAME (default: .)")
    p.add_argument("--version", help="MAJOR.MINOR.PATCH (default: bump the patch)")
    p.add_argument("--namespace", help="team or user namespace (default: yours)")
    p.add_argument("--changelog")
    p.add_argument("--visibility", choices=["private", "team", "public"])
    p.add_argument("--tags", help="comma-separated")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    p.set_defaults(func=cmd_publish)

    gallery = sub.add_parser("gallery", help="browse the gallery").add_subparsers(dest="gallery_command", required=True)
    p = gallery.add_parser("search", parents=[common], help="search workflows")
    p.add_argument("query", nargs="?")
    p.add_argument("--tag")
    p.add_argument("--sort", default="updated", choices=["updated", "subscribers", "stars", "name"])
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("subscribe", parents=[common], help="subscribe to a workflow")
    p.add_argument("workflow", help="namespace/name")
    p.add_argument("--pin", help="pin a version instead of following the latest")
    p.add_argument("--remove", action="store_true", help="unsubscribe")
    p.set_defaults(func=cmd_subscribe)

    p = sub.add_parser("yank", parents=[common], help="yank a version so new runs of it are refused")
    p.add_argument("workflow", help="namespace/name@version")
    p.add_argument("--reason", help="why (shown next to the version)")
    p.add_argument("--undo", action="store_true", help="unyank instead")
    p.set_defaults(func=cmd_yank)

    p = sub.add_parser("deprecate", parents=[common], help="deprecate a version, pointing at its successor")
    p.add_argument("workflow", help="namespace/name VERSION, or namespace/name@version")
    p.add_argument("version", nargs="?", help="the version to deprecate")
    p.add_argument("--successor", help="the version to use instead: 1.2.0, or namespace/name@1.2.0")
    p.add_argument("--message", help="shown next to the version")
    p.set_defaults(func=cmd_deprecate)

    p = sub.add_parser("versions", parents=[common], help="list a workflow's versions")
    p.add_argument("workflow", help="namespace/name")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("fork", parents=[common], help="copy a workflow version into your namespace")
    p.add_argument("workflow", help="namespace/name[@version]")
    p.add_argument("--namespace", help="where the fork goes (default: your personal namespace)")
    p.add_argument("--name", help="the fork's name (default: the same name)")
    p.set_defaults(func=cmd_fork)

    p = sub.add_parser("run", parents=[common], help="start a run of a published workflow")
    p.add_argument("workflow", help="namespace/name[@version]")
    p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--name")
    p.add_argument("--wait", action="store_true", help="wait for the run to end, showing step status")
    p.add_argument("--follow", action="store_true", help="like --wait, and print each step's log")
    p.add_argument("--steps", help="a partial run: only these steps (comma-separated) run; needs --from-run")
    p.add_argument("--from-run", type=int, metavar="RUN", help="the run whose outputs the steps not run hand over")
    p.add_argument("--namespace", help="run in this team (its quotas apply; you need the editor role there)")
    p.set_defaults(func=cmd_run)

    runs = sub.add_parser("runs", help="list, show and stop runs").add_subparsers(dest="action", required=True)
    p = runs.add_parser("list", parents=[common])
    p.add_argument("--workflow")
    p.add_argument("--status")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_runs)
    for action in ("show", "stop", "retry", "copy", "delete"):
        p = runs.add_parser(action, parents=[common])
        p.add_argument("run_id", type=int)
        p.set_defaults(func=cmd_runs)
        if action in ("retry", "copy"):
            p.add_argument("--wait", action="store_true", help="wait for the run to end")
        if action in ("retry", "copy"):
            p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE", help="edit a parameter")
        if action == "copy":
            p.add_argument("--name")
    add_compare_parser(runs, common, cmd_runs)

    p = sub.add_parser("upload", parents=[common], help="send a local run to the server")
    p.add_argument("run", help="a local run id (see .flowdeck/runs/) or its folder")
    p.add_argument("--track-dir", default=".flowdeck/runs")
    p.add_argument("--experiment", help="default: the workflow's name")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("logs", parents=[common], help="print step logs of a run")
    p.add_argument("run_id", type=int)
    p.add_argument("step_name", nargs="?", metavar="STEP", help="one step (default: every step)")
    p.add_argument("--step", help=argparse.SUPPRESS)  # the older spelling of STEP
    p.add_argument("--follow", "-f", action="store_true", help="print the log as it grows until the step ends")
    p.set_defaults(func=cmd_logs)
    add_automation_parsers(sub, common)
    add_accounts_parsers(sub, common)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except (FlowdeckError, SpecError, ValueError, OSError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
