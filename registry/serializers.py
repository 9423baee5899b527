from rest_framework import serializers

from .models import Asset, AssetVersion


class VersionOut(serializers.ModelSerializer):
    asset = serializers.CharField(source="asset.full_name")
    published_by = serializers.CharField(source="published_by.username")
    yanked = serializers.SerializerMethodField()
    deprecated = serializers.SerializerMethodField()
    successor = serializers.SerializerMethodField(help_text="ns/name@version to use instead, or null.")

    class Meta:
        model = AssetVersion
        fields = [
            "asset", "version", "bundle_digest", "bundle_size", "changelog", "published_by",
            "published_at", "yanked", "yanked_at", "yank_reason", "deprecated", "deprecated_at",
            "deprecation_message", "successor",
        ]

    def get_yanked(self, obj) -> bool:
        return obj.yanked_at is not None

    def get_deprecated(self, obj) -> bool:
        return obj.deprecated_at is not None

    def get_successor(self, obj) -> str | None:
        return str(obj.successor) if obj.successor_id else None


class VersionDetailOut(VersionOut):
    class Meta(VersionOut.Meta):
        fields = VersionOut.Meta.fields + ["spec", "readme"]


class AssetOut(serializers.ModelSerializer):
    full_name = serializers.CharField()
    namespace = serializers.CharField(source="namespace.slug")
    latest_version = serializers.CharField(source="latest_version.version", allow_null=True)

    class Meta:
        model = Asset
        fields = ["full_name", "namespace", "name", "description", "tags", "visibility", "latest_version", "updated_at"]


class PublishIn(serializers.Serializer):
    spec = serializers.JSONField(help_text="The workflow spec (JSON object, or a JSON string in a multipart form).")
    bundle = serializers.FileField(help_text="The deterministic tar.gz of the workflow's source folder.")
    version = serializers.CharField(required=False, allow_blank=True, help_text="MAJOR.MINOR.PATCH; omitted bumps the patch.")
    namespace = serializers.CharField(required=False, allow_blank=True)
    readme = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    changelog = serializers.CharField(required=False, allow_blank=True, default="")
    visibility = serializers.ChoiceField(choices=["private", "team", "public"], required=False)
    tags = serializers.CharField(required=False, allow_blank=True, default="", help_text="Comma-separated.")


class YankIn(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the version must not be run any more.")


class DeprecateIn(serializers.Serializer):
    successor = serializers.CharField(
        required=False, allow_blank=True, allow_null=True,
        help_text="The version to use instead: 1.2.0 in this workflow, or ns/name[@version].",
    )
    message = serializers.CharField(required=False, allow_blank=True, default="")


class DiffOut(serializers.Serializer):
    asset = serializers.CharField()
    to = serializers.CharField()
    params = serializers.DictField(help_text="added, removed: names; changed: [{name, changes: {field: {old, new}}}]")
    steps = serializers.DictField(help_text="added, removed: names; changed: [{name, changes: {field: {old, new}}}]")
    files = serializers.DictField(
        help_text="added, removed: paths; changed: [{path, old_sha256, new_sha256, diff (unified, or null)}]"
    )


DiffOut._declared_fields["from"] = serializers.CharField()  # "from" is a Python keyword
