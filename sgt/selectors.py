from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Q

from accounts.models import ApiKey
from core.errors import NotFound

from .model_types import MODEL_TYPES
from .models import SgtModel


def list_model_types():
    return list(MODEL_TYPES)


def model_types_described():
    return [(t.name, t.description) for t in MODEL_TYPES.values()]


def models_of(user):
    return SgtModel.objects.owned_by(user).defer("loss_history").order_by("app_name", "name")


def public_models():
    return SgtModel.objects.filter(is_public=True).defer("loss_history").order_by("app_name", "name", "id")


def get_own_model(user, app_name, name, *, for_update=False):
    queryset = SgtModel.objects.select_for_update() if for_update else SgtModel.objects
    model = queryset.filter(owner=user, app_name=app_name, name=name).first()
    if model is None:
        raise NotFound(f"you have no model {name!r} in app {app_name!r}")
    return model


def find_clone_source(user, author_unique_id, app_name, name):
    """A model of the author (by the secret id it was made with, or any key of its owner)
    that `user` may clone: public, or their own. Others' private models are not found."""
    candidates = (
        SgtModel.objects.filter(app_name=app_name, name=name)
        .filter(Q(user_unique_id=author_unique_id) | Q(owner__api_keys__secret_id=author_unique_id))
        .filter(Q(is_public=True) | Q(owner=user))
        .distinct()
        .order_by("id")
    )
    model = candidates.first()
    if model is None:
        raise NotFound(f"no model {name!r} in app {app_name!r} of author {author_unique_id!r} that you can clone")
    return model


def model_for_page(user, pk):
    """A model page shows the user's own models and public ones."""
    model = SgtModel.objects.visible_to(user).filter(pk=pk).first()
    if model is None:
        raise NotFound("model not found")
    return model


def training_rows(model):
    """All uploaded rows as one float32 array (rows, in_size + out_size)."""
    width = model.in_size + model.out_size
    parts = [
        np.frombuffer(bytes(chunk.data), dtype="<f4").reshape(chunk.rows, width)
        for chunk in model.chunks.all().only("rows", "data")
    ]
    if not parts:
        return np.zeros((0, width), dtype=np.float32)
    return np.concatenate(parts)


def read_weights(model):
    with default_storage.open(model.weights_path, "rb") as handle:
        return handle.read()


def recent_jobs(model, limit=10):
    return model.training_jobs.order_by("-created_at")[:limit]


# --- the run path ----------------------------------------------------------------------------

RUN_TARGET_FIELDS = ("key_id", "key_hash", "key_stale", "owner_id", "model_id", "name", "app_name", "model_type",
                     "in_size", "out_size", "weights_version", "weights_path", "train_state")


def run_target(*, secret_id, app_name, name, now, last_used_precision=timedelta(minutes=1)):
    """Everything run_sgt_model needs, read fresh in one SQL statement: the active, unexpired key of an
    active user (its hash, and whether its last use is older than `last_used_precision`) and that
    user's model `app_name/name` (None fields when there is no such model). None: no usable key.

    One plain statement costs about 0.05 ms on SQLite where the two ORM queries it replaces cost
    about 2 ms in query building; nothing is cached, so a revoked key or a retrained model is seen
    at the very next request.
    """
    quote = connection.ops.quote_name
    key, user, model = ApiKey._meta, get_user_model()._meta, SgtModel._meta

    def column(meta, field):
        return quote(meta.get_field(field).column)

    model_columns = ", ".join(
        f"m.{column(model, field)}" for field in ("id", "name", "app_name", "model_type", "in_size", "out_size",
                                                  "weights_version", "weights_path", "train_state")
    )
    sql = (
        f"SELECT k.{column(key, 'id')}, k.{column(key, 'secret_key_hash')}, "
        f"CASE WHEN k.{column(key, 'last_used_at')} IS NULL OR k.{column(key, 'last_used_at')} < %s THEN 1 ELSE 0 END, "
        f"k.{column(key, 'user')}, {model_columns} "
        f"FROM {quote(key.db_table)} k "
        f"JOIN {quote(user.db_table)} u ON u.{column(user, 'id')} = k.{column(key, 'user')} "
        f"LEFT JOIN {quote(model.db_table)} m ON m.{column(model, 'owner')} = k.{column(key, 'user')} "
        f"AND m.{column(model, 'app_name')} = %s AND m.{column(model, 'name')} = %s "
        f"WHERE k.{column(key, 'secret_id')} = %s AND k.{column(key, 'is_active')} = %s "
        f"AND u.{column(user, 'is_active')} = %s "
        f"AND (k.{column(key, 'end_time')} IS NULL OR k.{column(key, 'end_time')} > %s)"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(now - last_used_precision), app_name, name, secret_id, True, True, adapt(now)])
        row = cursor.fetchone()
    return dict(zip(RUN_TARGET_FIELDS, row)) if row else None
