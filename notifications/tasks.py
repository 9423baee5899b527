from core.tasks import flowdeck_task
from registry.models import AssetVersion

from .services import notify_new_version


@flowdeck_task("flowdeck.notifications.notify_new_version")
def notify_new_version_task(version_id: int) -> None:
    version = AssetVersion.objects.select_related("asset__namespace").filter(pk=version_id).first()
    if version is not None:  # deleted since: nothing to announce
        notify_new_version(version=version)
