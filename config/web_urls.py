"""The server-rendered web UI. Every view here calls the same selectors and services as the API."""
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from accounts import views as account_views
from accounts import views_auth, views_teams, views_tokens
from automation import views as automation_views
from compare import views as compare_views
from gallery import views as gallery_views
from notifications import views as notification_views
from notifications import views_settings as notification_settings_views
from registry import views as registry_views
from registry import views_fork as registry_fork_views
from runs import views as run_views
from runs import views_operations as run_operation_views
from runs import views_table as run_table_views
from runs import views_workers as worker_views

gallery_urls = (
    [
        path("", gallery_views.index, name="index"),
        path("w/<slug:namespace>/<str:name>/subscribe", gallery_views.subscribe, name="subscribe"),
        path("w/<slug:namespace>/<str:name>/unsubscribe", gallery_views.unsubscribe, name="unsubscribe"),
        path("w/<slug:namespace>/<str:name>/star", gallery_views.star, name="star"),
    ],
    "gallery",
)

registry_urls = (
    [
        path("w/<slug:namespace>/<str:name>/", registry_views.workflow_detail, name="workflow"),
        path("w/<slug:namespace>/<str:name>/diff", registry_views.version_diff_page, name="diff"),
        path("w/<slug:namespace>/<str:name>/fork", registry_fork_views.fork_view, name="fork"),
        path("w/<slug:namespace>/<str:name>/versions/<str:version>/yank", registry_views.version_yank_view,
             name="yank"),
    ],
    "registry",
)

run_urls = (
    [
        path("runs/", run_table_views.run_list_page, name="list"),
        path("w/<slug:namespace>/<str:name>/runs/", run_table_views.workflow_runs_page, name="workflow-runs"),
        path("runs/<int:run_id>/", run_views.run_detail, name="detail"),
        path("workers/", worker_views.worker_list_page, name="workers"),
        path("runs/<int:run_id>/status", run_views.run_status, name="status"),
        path("runs/<int:run_id>/stop", run_views.run_stop_view, name="stop"),
        path("runs/<int:run_id>/retry", run_operation_views.run_retry_page, name="retry"),
        path("runs/<int:run_id>/copy", run_operation_views.run_copy_page, name="copy"),
        path("runs/<int:run_id>/artifacts/<path:path>", run_views.artifact_download, name="artifact"),
        path("runs/<int:run_id>/steps/<str:step>/log", run_views.step_log_fragment, name="step-log"),
        path("w/<slug:namespace>/<str:name>/run", run_views.run_start_view, name="start"),
    ],
    "runs",
)

automation_urls = (
    [
        path("w/<slug:namespace>/<str:name>/automation/", automation_views.automation_page, name="page"),
        path("w/<slug:namespace>/<str:name>/schedules/new", automation_views.schedule_create_view, name="schedule-create"),
        path("w/<slug:namespace>/<str:name>/triggers/new", automation_views.trigger_create_view, name="trigger-create"),
        re_path(r"^schedules/(?P<schedule_id>[0-9]+)/(?P<action>pause|resume|delete)$",
                automation_views.schedule_action_view, name="schedule-action"),
        path("triggers/<int:trigger_id>/delete", automation_views.trigger_delete_view, name="trigger-delete"),
    ],
    "automation",
)

compare_urls = (
    [
        path("compare/", compare_views.compare_page, name="page"),
        path("compare/save", compare_views.save_view, name="save"),
        path("c/<str:slug>", compare_views.saved_page, name="saved"),
        path("w/<slug:namespace>/<str:name>/trend", compare_views.trend_page, name="trend"),
    ],
    "compare",
)

urlpatterns = [
    path("login/", views_auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views_auth.signup, name="signup"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("me/", account_views.workspace, name="workspace"),
    path("me/tokens/", views_tokens.tokens_page, name="tokens"),
    path("tokens/<int:token_id>/revoke", views_tokens.token_revoke_view, name="token-revoke"),
    path("teams/", views_teams.teams_page, name="teams"),
    path("teams/<slug:slug>/", views_teams.team_page, name="team"),
    path("teams/<slug:slug>/members", views_teams.team_member_add, name="team-member-add"),
    path("teams/<slug:slug>/members/<str:username>", views_teams.team_member_change, name="team-member"),
    path("teams/<slug:slug>/quota", views_teams.team_quota, name="team-quota"),
    path("teams/<slug:slug>/settings", views_teams.team_settings, name="team-settings"),
    path("teams/<slug:slug>/tokens", views_tokens.team_token_create, name="team-token-create"),
    path("teams/<slug:slug>/audit", views_teams.team_audit, name="team-audit"),
    path("notifications/", notification_views.notifications_page, name="notifications"),
    path("notifications/settings/", notification_settings_views.notification_settings_page,
         name="notification-settings"),
    path("notifications/webhooks/<int:webhook_id>/", notification_settings_views.webhook_page,
         name="notification-webhook"),
    path("", include(gallery_urls)),
    path("", include(registry_urls)),
    path("", include(run_urls)),
    path("", include(automation_urls)),
    path("", include(compare_urls)),
]
