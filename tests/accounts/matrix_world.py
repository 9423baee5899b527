"""The world the permission matrix runs in: one team, four people, and one asset per
visibility with everything that hangs off it (versions, a run with steps, logs, metrics and
an artifact, a tracked run, a schedule, a trigger, a subscription, a webhook, a saved
comparison), and the accounts side: lab's quota, its audit log, a service token, eddie's
spare personal token.

- ``lab`` is a team: ada is its admin, eddie an editor, vera a viewer. otto is in no team.
- ``private``: eddie's private workflow in his personal namespace ``eddie``; its runs,
  schedule and trigger live there too, so only eddie may see them.
- ``team``: a team-visible workflow in ``lab``, runs and automation in ``lab``.
- ``public``: a public workflow in ``lab``; its runs and automation are still ``lab``'s.
- Saved comparisons: ``private`` is eddie's own (his two private runs); ``team`` is eddie's,
  shared with ``lab``, over lab's team runs AND his private runs (so a viewer opening it must
  not get the private ones); ``public`` is ada's, shared with ``lab``, over the public runs.
- The team rows use each column's namespace: ``eddie`` (personal, eddie its admin) for
  ``private``, ``lab`` for ``team`` and ``public``.

Built once per module and committed (each cell's writes are rolled back after it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.models import Membership, Team
from accounts.services import membership_set, quota_set, service_token_create, team_create, token_create
from automation.services import schedule_create, trigger_create
from compare.models import SavedComparison
from compare.options import options_parse
from compare.services import comparison_save
from core import storage
from gallery.services import star_set, subscription_set
from notifications.services.webhooks import webhook_create
from registry.models import Asset, AssetVersion
from runs.models import (
    Artifact,
    Metric,
    MetricSummary,
    Run,
    RunStatus,
    StepRun,
    StepStatus,
)
from runs.services.tracked import run_create_tracked
from tests.factories import make_spec, make_token, make_user, publish

ROLES = ("anonymous", "outsider", "viewer", "editor", "admin")
VISIBILITIES = ("private", "team", "public")
MEMBER_ROLES = ("viewer", "editor", "admin")
USERNAMES = {"outsider": "otto", "viewer": "vera", "editor": "eddie", "admin": "ada"}
ALL_SCOPES = ["read", "write", "run", "admin"]


# --- who may do what, per cell: the rules the table's expectations are built from ------------
def sees_asset(role: str, vis: str) -> bool:
    if vis == "public":
        return True
    if vis == "team":
        return role in MEMBER_ROLES
    return role == "editor"  # eddie's own private workflow


def member(role: str, vis: str) -> bool:
    """Sees the column's runs, schedules and triggers (members of the namespace they are in)."""
    return role == "editor" if vis == "private" else role in MEMBER_ROLES


def writer(role: str, vis: str) -> bool:
    """May publish, run, manage automation and change runs in the column's namespace."""
    return role == "editor" if vis == "private" else role in ("editor", "admin")


def team_admin(role: str, vis: str) -> bool:
    """Manages the column's namespace: members, settings, quotas, service tokens, audit log."""
    return role == "editor" if vis == "private" else role == "admin"


def comparison_owner(vis: str) -> str:
    return "admin" if vis == "public" else "editor"


@dataclass
class Column:
    """Everything of one visibility."""

    vis: str
    namespace: Team
    asset: Asset
    version: AssetVersion  # 1.0.0; 1.1.0 exists too
    run: Run
    tracked: Run
    schedule: object
    trigger: object
    trigger_secret: str
    comparison: SavedComparison | None = None

    @property
    def ns(self) -> str:
        return self.asset.namespace.slug

    @property
    def name(self) -> str:
        return self.asset.name

    def fresh_run(self) -> Run:
        """A run like ``run`` without storage behind it, for cells that delete one."""
        return _workflow_run(self.version, self.namespace, self.run.created_by, with_files=False)


@dataclass
class World:
    users: dict[str, object]
    tokens: dict[str, str]
    lab: Team
    columns: dict[str, Column]
    webhook_id: int
    spare_token_id: int  # eddie's personal token (not the one the cells use)
    service_token_id: int  # lab's service token, made by ada
    role: str = ""  # the role of the cell being sent, for bodies that depend on it


def _workflow_run(version: AssetVersion, namespace: Team, user, *, with_files: bool = True) -> Run:
    """A finished run written as the engine would leave it, without sending any task."""
    now = timezone.now()
    run = Run.objects.create(
        name=f"{version.asset.name}-run", namespace=namespace, created_by=user, asset_version=version,
        params={"n": 3}, status=RunStatus.SUCCEEDED, started_at=now - timedelta(seconds=5), finished_at=now,
    )
    for position, step in enumerate(("a", "b", "c")):
        log_key = ""
        if with_files:
            log_key = storage.step_key(run.pk, step, 1, "log.txt")
            storage.put(log_key, f"log of {step}\n".encode())
        StepRun.objects.create(run=run, name=step, position=position, status=StepStatus.SUCCEEDED, attempt=1,
                               started_at=now, finished_at=now, log_key=log_key, log_size=9 if log_key else 0)
    if with_files:
        data = b"model bytes"
        storage.put(storage.artifact_key(run.pk, "model.txt"), data)
        Artifact.objects.create(run=run, path="model.txt", size=len(data))
        Metric.objects.create(run=run, key="loss", step=0, value=0.5, timestamp_ms=1)
        MetricSummary.objects.create(run=run, key="loss", last=0.5, last_step=0, min=0.5, max=0.5, count=1,
                                     min_step=0, max_step=0)
    return run


def build_world() -> World:
    users = {role: make_user(name, email=f"{name}@example.com") for role, name in USERNAMES.items()}
    ada, eddie, vera = users["admin"], users["editor"], users["viewer"]
    lab = team_create(slug="lab", owner=ada)
    membership_set(team=lab, user=eddie, role=Membership.Role.EDITOR, actor=ada)  # audited, as the API does
    membership_set(team=lab, user=vera, role=Membership.Role.VIEWER, actor=ada)
    quota_set(actor=ada, team=lab, max_concurrent_runs=10)
    personal = Team.objects.get(personal_of=eddie)
    columns = {}
    for vis, namespace, name in (("private", personal, "pflow"), ("team", lab, "tflow"), ("public", lab, "pubflow")):
        spec = make_spec(name=name, description=f"The {vis} workflow {name}.")
        first = publish(eddie, spec=spec, version="1.0.0", visibility=vis,
                        namespace=None if vis == "private" else "lab")
        publish(eddie, spec=spec, version="1.1.0", visibility=vis, namespace=None if vis == "private" else "lab",
                changelog="second")
        run = _workflow_run(first, namespace, eddie)
        tracked = run_create_tracked(user=eddie, experiment=f"exp-{vis}", namespace=namespace)
        schedule = schedule_create(user=eddie, asset=first.asset, cron="0 3 * * *", namespace=namespace,
                                   name=f"nightly-{vis}")
        trigger, secret = trigger_create(user=eddie, asset=first.asset, namespace=namespace, name=f"on-data-{vis}")
        subscription_set(user=eddie, asset=first.asset)
        star_set(user=eddie, asset=first.asset)
        columns[vis] = Column(vis, namespace, first.asset, first, run, tracked, schedule, trigger, secret)
    _save_comparisons(columns, ada, eddie)
    spare, _ = token_create(user=eddie, name="spare", scopes=["read"], expires_at=None)
    service, _ = service_token_create(actor=ada, team=lab, name="lab-ci", scopes=["read", "run"], expires_at=None)
    endpoint, _ = webhook_create(user=eddie, name="eddie-hook", url="https://hooks.example.com/eddie")
    tokens = {role: make_token(user, ALL_SCOPES, name="matrix") for role, user in users.items()}
    return World(users=users, tokens=tokens, lab=lab, columns=columns, webhook_id=endpoint.pk,
                 spare_token_id=spare.pk, service_token_id=service.pk)


def _save_comparisons(columns: dict[str, Column], ada, eddie) -> None:
    def runs(*vis: str) -> object:
        return options_parse({}, runs=[str(r.pk) for v in vis for r in (columns[v].run, columns[v].tracked)])

    columns["private"].comparison = comparison_save(user=eddie, options=runs("private"), title="eddie alone",
                                                    visibility="private")
    columns["team"].comparison = comparison_save(user=eddie, options=runs("team", "private"), title="lab and mine",
                                                 namespace="lab", visibility="team")
    columns["public"].comparison = comparison_save(user=ada, options=runs("public"), title="public runs",
                                                   namespace="lab", visibility="team")
