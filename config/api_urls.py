from django.urls import path

from accounts import api_audit, api_teams, api_tokens
from accounts.api import MeApi, TokenLoginApi
from automation import api as automation_api
from compare import api as compare_api
from gallery.api import GalleryListApi, StarApi, SubscriptionApi
from notifications import api_settings as notification_settings_api
from notifications.api import NotificationsApi, NotificationsReadApi
from registry.api import (
    AssetDetailApi,
    PublishApi,
    VersionDeprecateApi,
    VersionDetailApi,
    VersionDiffApi,
    VersionYankApi,
)
from registry.api_fork import ForkApi
from runs import api as runs_api
from runs.api_runs_table import RunsCountApi, RunsExportApi
from runs.api_workers import WorkersApi

urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
    path("auth/token", TokenLoginApi.as_view(), name="token-login"),
    path("tokens", api_tokens.TokensApi.as_view(), name="tokens"),
    path("tokens/<int:token_id>", api_tokens.TokenDetailApi.as_view(), name="token"),
    path("teams", api_teams.TeamsApi.as_view(), name="teams"),
    path("teams/<slug:slug>", api_teams.TeamDetailApi.as_view(), name="team"),
    path("teams/<slug:slug>/members", api_teams.TeamMembersApi.as_view(), name="team-members"),
    path("teams/<slug:slug>/members/<str:username>", api_teams.TeamMemberApi.as_view(), name="team-member"),
    path("teams/<slug:slug>/quota", api_teams.TeamQuotaApi.as_view(), name="team-quota"),
    path("teams/<slug:slug>/audit", api_audit.TeamAuditApi.as_view(), name="team-audit"),
    path("teams/<slug:slug>/audit/export", api_audit.TeamAuditExportApi.as_view(), name="team-audit-export"),
    path("workflows", GalleryListApi.as_view(), name="workflows"),
    path("workflows/publish", PublishApi.as_view(), name="publish"),
    path("workflows/<str:namespace>/<str:name>", AssetDetailApi.as_view(), name="workflow"),
    path("workflows/<str:namespace>/<str:name>/versions/<str:version>", VersionDetailApi.as_view(), name="version"),
    path("workflows/<str:namespace>/<str:name>/versions/<str:version>/yank", VersionYankApi.as_view(), name="version-yank"),
    path("workflows/<str:namespace>/<str:name>/versions/<str:version>/deprecate", VersionDeprecateApi.as_view(),
         name="version-deprecate"),
    path("workflows/<str:namespace>/<str:name>/diff", VersionDiffApi.as_view(), name="version-diff"),
    path("workflows/<str:namespace>/<str:name>/subscription", SubscriptionApi.as_view(), name="subscription"),
    path("workflows/<str:namespace>/<str:name>/star", StarApi.as_view(), name="star"),
    path("workflows/<str:namespace>/<str:name>/fork", ForkApi.as_view(), name="fork"),
    path("notifications", NotificationsApi.as_view(), name="notifications"),
    path("notifications/read", NotificationsReadApi.as_view(), name="notifications-read"),
    path("notifications/preferences", notification_settings_api.PreferencesApi.as_view(),
         name="notification-preferences"),
    path("workflows/<str:namespace>/<str:name>/notification-preferences",
         notification_settings_api.WorkflowPreferenceApi.as_view(), name="workflow-notification-preferences"),
    path("webhooks", notification_settings_api.WebhooksApi.as_view(), name="webhooks"),
    path("webhooks/<int:webhook_id>", notification_settings_api.WebhookDetailApi.as_view(), name="webhook"),
    path("webhooks/<int:webhook_id>/deliveries", notification_settings_api.WebhookDeliveriesApi.as_view(),
         name="webhook-deliveries"),
    path("webhooks/<int:webhook_id>/ping", notification_settings_api.WebhookPingApi.as_view(), name="webhook-ping"),
    path("experiments", runs_api.ExperimentsApi.as_view(), name="experiments"),
    path("experiments/runs", runs_api.TrackedRunsApi.as_view(), name="tracked-runs"),
    path("runs", runs_api.RunsApi.as_view(), name="runs"),
    path("runs/export.csv", RunsExportApi.as_view(), name="runs-export"),
    path("runs/count", RunsCountApi.as_view(), name="runs-count"),
    path("workers", WorkersApi.as_view(), name="workers"),
    path("runs/<int:run_id>", runs_api.RunDetailApi.as_view(), name="run"),
    path("runs/<int:run_id>/stop", runs_api.RunStopApi.as_view(), name="run-stop"),
    path("runs/<int:run_id>/retry", runs_api.RunRetryApi.as_view(), name="run-retry"),
    path("runs/<int:run_id>/copy", runs_api.RunCopyApi.as_view(), name="run-copy"),
    path("runs/<int:run_id>/end", runs_api.RunEndApi.as_view(), name="run-end"),
    path("runs/<int:run_id>/log-batch", runs_api.LogBatchApi.as_view(), name="log-batch"),
    path("runs/<int:run_id>/metrics/<str:key>", runs_api.MetricHistoryApi.as_view(), name="metric-history"),
    path("runs/<int:run_id>/metrics/<str:key>/export", runs_api.MetricExportApi.as_view(), name="metric-export"),
    path("runs/<int:run_id>/artifacts", runs_api.ArtifactsApi.as_view(), name="artifacts"),
    path("runs/<int:run_id>/artifacts/uploads", runs_api.ArtifactUploadApi.as_view(), name="artifact-upload"),
    path("runs/<int:run_id>/artifacts/commit", runs_api.ArtifactCommitApi.as_view(), name="artifact-commit"),
    path("runs/<int:run_id>/artifacts/multipart", runs_api.ArtifactMultipartApi.as_view(), name="artifact-multipart"),
    path("runs/<int:run_id>/artifacts/multipart/complete", runs_api.ArtifactMultipartCompleteApi.as_view(),
         name="artifact-multipart-complete"),
    path("runs/<int:run_id>/artifacts/multipart/abort", runs_api.ArtifactMultipartAbortApi.as_view(),
         name="artifact-multipart-abort"),
    path("runs/<int:run_id>/artifacts/content/<path:path>", runs_api.ArtifactContentApi.as_view(), name="artifact-content"),
    path("runs/<int:run_id>/steps/<str:step>/log", runs_api.StepLogApi.as_view(), name="step-log"),
    path("schedules", automation_api.SchedulesApi.as_view(), name="schedules"),
    path("schedules/<int:schedule_id>", automation_api.ScheduleDetailApi.as_view(), name="schedule"),
    path("schedules/<int:schedule_id>/pause", automation_api.SchedulePauseApi.as_view(), name="schedule-pause"),
    path("schedules/<int:schedule_id>/resume", automation_api.ScheduleResumeApi.as_view(), name="schedule-resume"),
    path("triggers", automation_api.TriggersApi.as_view(), name="triggers"),
    path("triggers/<int:trigger_id>", automation_api.TriggerDetailApi.as_view(), name="trigger"),
    path("hooks/<str:key>", automation_api.HookApi.as_view(), name="hook"),
    path("compare", compare_api.CompareApi.as_view(), name="compare"),
    path("compare/artifact", compare_api.CompareArtifactApi.as_view(), name="compare-artifact"),
    path("comparisons", compare_api.ComparisonsApi.as_view(), name="comparisons"),
    path("comparisons/<str:slug>", compare_api.ComparisonDetailApi.as_view(), name="comparison"),
    path("workflows/<str:namespace>/<str:name>/trend", compare_api.TrendApi.as_view(), name="trend"),
]
