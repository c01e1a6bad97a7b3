"""SGT writes: creating, sharing, cloning and deleting models, uploading rows, training, running."""

import json
import logging
import re
import secrets
import time

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import LAST_USED_PRECISION, authenticate_api_key, secret_key_matches
from core.errors import AuthError, Conflict, InvalidInput, NotFound, TooLarge
from core.jobs import JobCancelled, JobHandle, finish, worker_name
from core.models import JobStatus
from core.services import enqueue_job

from . import model_types
from .errors import NotTrained
from .inference import run_network
from .models import SgtModel, SgtTrainingJob, TrainChunk, TrainState
from .selectors import find_clone_source, get_own_model, read_weights, run_target, training_rows

logger = logging.getLogger(__name__)


LOSS_HISTORY_POINTS = 500

NAME_RE = re.compile(r"^\w[\w.\-]{0,63}\Z")


# --- authentication and field checks -----------------------------------------


def authenticate(secret_id, secret_key):
    """The user of a valid, active, unexpired API key; AuthError otherwise."""
    if not isinstance(secret_id, str) or not isinstance(secret_key, str) or not secret_id or not secret_key:
        raise AuthError("secret_id and secret_key are required strings")
    user = authenticate_api_key(secret_id, secret_key)
    if user is None:
        raise AuthError("invalid, revoked or expired secret_id / secret_key")
    return user


def clean_name(value, field):
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise InvalidInput(f"{field} must be 1-64 characters: letters, digits and _ . - (not starting with . or -)")
    return value


def clean_size(value, field):
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an integer")
    if not 1 <= value <= settings.SGT_MAX_SIZE:
        raise InvalidInput(f"{field} must be between 1 and {settings.SGT_MAX_SIZE}")
    return value


def clean_bool(value, field):
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidInput(f"{field} must be true or false")


def clean_model_type(value):
    if not isinstance(value, str) or value not in model_types.MODEL_TYPES:
        known = ", ".join(model_types.MODEL_TYPES)
        raise InvalidInput(f"model_type must be one of: {known}")
    return value


def clean_client_data(value):
    try:
        size = len(json.dumps(value, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidInput("client_data must be JSON") from exc
    if size > settings.SGT_MAX_CLIENT_DATA_BYTES:
        raise TooLarge(f"client_data must be at most {settings.SGT_MAX_CLIENT_DATA_BYTES // 1024} KB of JSON")
    return value


def parse_matrix(value, field, *, widths, max_rows, max_values):
    """A JSON 2-D array of finite numbers, every row as wide as one of `widths`, as float32."""
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{field} must be a non-empty 2-D array (a list of rows)")
    if len(value) > max_rows:
        raise TooLarge(f"{field} has {len(value)} rows; at most {max_rows} per request")
    if not isinstance(value[0], list):
        raise InvalidInput(f"{field} must be a 2-D array: row 0 is not a list")
    width = len(value[0])
    if width not in widths:
        expected = " or ".join(str(w) for w in sorted(set(widths)))
        raise InvalidInput(f"{field} rows must have {expected} numbers; row 0 has {width}")
    if len(value) * width > max_values:
        raise TooLarge(f"{field} has {len(value) * width} numbers; at most {max_values} per request")
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise InvalidInput(f"{field} must be a 2-D array: row {i} is not a list")
        if len(row) != width:
            raise InvalidInput(f"{field} is ragged: row {i} has {len(row)} numbers, row 0 has {width}")
        for item in row:
            if type(item) not in (int, float):
                raise InvalidInput(f"{field} row {i} holds a non-number: {json.dumps(item)[:40]}")
    try:
        array = np.array(value, dtype=np.float64)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"{field} holds a number out of range") from exc
    if not np.isfinite(array).all():
        raise InvalidInput(f"{field} holds NaN or infinity")
    with np.errstate(over="ignore"):
        result = array.astype(np.float32)
    if not np.isfinite(result).all():
        raise InvalidInput(f"{field} holds a number out of float32 range")
    return result


def parse_train_rows(model, train_data):
    """Rows of in_size inputs then the labels, normalised to in_size + out_size columns.

    Regression: out_size target values. Classification with out_size >= 2: out_size
    class probabilities (one-hot) or a single class index. Binary classification
    (out_size 1): one target in [0, 1].
    """
    kind = model_types.get_type(model.model_type)
    full = model.in_size + model.out_size
    widths = (full, model.in_size + 1) if kind.classification else (full,)
    rows = parse_matrix(
        train_data, "train_data", widths=widths, max_rows=settings.SGT_MAX_UPLOAD_ROWS, max_values=settings.SGT_MAX_UPLOAD_VALUES
    )
    if not kind.classification:
        return rows
    inputs, labels = rows[:, : model.in_size], rows[:, model.in_size :]
    if model.out_size >= 2 and labels.shape[1] == 1:
        classes = labels[:, 0]
        if not (np.all(classes == np.round(classes)) and classes.min() >= 0 and classes.max() < model.out_size):
            raise InvalidInput(f"class indexes in train_data must be integers from 0 to {model.out_size - 1}")
        labels = np.eye(model.out_size, dtype=np.float32)[classes.astype(np.int64)]
    else:
        if labels.min() < 0 or labels.max() > 1:
            raise InvalidInput("classification targets in train_data must lie in [0, 1]")
        if model.out_size >= 2 and not np.allclose(labels.sum(axis=1), 1.0, atol=1e-3):
            raise InvalidInput("classification targets of each row must sum to 1 (one-hot or probabilities)")
    return np.ascontiguousarray(np.hstack([inputs, labels]), dtype=np.float32)


# --- models ------------------------------------------------------------------


def create_model(user, user_unique_id, *, name, app_name, model_type, in_size, out_size, client_data=None,
                 is_public=False):
    fields = dict(
        owner=user,
        user_unique_id=user_unique_id,
        name=clean_name(name, "name"),
        app_name=clean_name(app_name, "app_name"),
        model_type=clean_model_type(model_type),
        in_size=clean_size(in_size, "in_size"),
        out_size=clean_size(out_size, "out_size"),
        client_data=clean_client_data(client_data),
        is_public=clean_bool(is_public, "is_public"),
    )
    if SgtModel.objects.filter(owner=user, app_name=app_name, name=name).exists():
        raise Conflict(f"you already have a model {name!r} in app {app_name!r}")
    try:
        with transaction.atomic():
            return SgtModel.objects.create(**fields)
    except IntegrityError as exc:
        raise Conflict(f"you already have a model {name!r} in app {app_name!r}") from exc


def weights_storage_name(model_id, version):
    """Where a model's weights are stored: a random part keeps the name unguessable
    (weights are never served from storage directly, only used through the API)."""
    return f"sgt/weights/{model_id}/v{version}-{secrets.token_hex(16)}.safetensors"


def _delete_files_later(*paths):
    paths = [p for p in paths if p]

    def remove():
        for path in paths:
            try:
                default_storage.delete(path)
            except OSError:
                logger.warning("could not delete %s", path)

    transaction.on_commit(remove)


def delete_model(user, app_name, name):
    with transaction.atomic():
        model = get_own_model(user, app_name, name, for_update=True)
        # Its training jobs go with it; a running one fails when it tries to store weights.
        _delete_files_later(model.weights_path)
        model.delete()


UNSET = object()


def update_model(user, app_name, name, *, client_data=UNSET, is_public=UNSET):
    changes = {}
    if client_data is not UNSET:
        changes["client_data"] = clean_client_data(client_data)
    if is_public is not UNSET:
        changes["is_public"] = clean_bool(is_public, "is_public")
    if not changes:
        raise InvalidInput("client_data is required")
    with transaction.atomic():
        model = get_own_model(user, app_name, name, for_update=True)
        for field, value in changes.items():
            setattr(model, field, value)
        model.save(update_fields=[*changes, "updated_at"])
    return model


def set_public(model, is_public):
    model.is_public = bool(is_public)
    model.save(update_fields=["is_public", "updated_at"])
    return model


def clone_model(user, user_unique_id, *, author_unique_id, app_name, name, new_name):
    if not isinstance(author_unique_id, str) or not author_unique_id:
        raise InvalidInput("author_unique_id is required")
    clean_name(app_name, "app_name")
    clean_name(name, "name")
    clean_name(new_name, "new_name")
    source = find_clone_source(user, author_unique_id, app_name, name)
    if SgtModel.objects.filter(owner=user, app_name=app_name, name=new_name).exists():
        raise Conflict(f"you already have a model {new_name!r} in app {app_name!r}")
    try:
        with transaction.atomic():
            clone = SgtModel.objects.create(
                owner=user,
                user_unique_id=user_unique_id,
                name=new_name,
                app_name=app_name,
                model_type=source.model_type,
                in_size=source.in_size,
                out_size=source.out_size,
                client_data=source.client_data,
                is_public=False,
                sample_count=source.sample_count,
                last_loss=source.last_loss,
                epochs_trained=source.epochs_trained,
                loss_history=source.loss_history,
                trained_at=source.trained_at,
                train_state=TrainState.TRAINED if source.is_trained else TrainState.UNTRAINED,
            )
            TrainChunk.objects.bulk_create(
                TrainChunk(sgt_model=clone, rows=c.rows, width=c.width, data=c.data) for c in source.chunks.all()
            )
            # Rows counted from the copied chunks: the source may have grown meanwhile.
            clone.sample_count = sum(c.rows for c in clone.chunks.all().only("rows"))
            if source.is_trained:
                clone.weights_path = default_storage.save(
                    weights_storage_name(clone.pk, 1), ContentFile(read_weights(source))
                )
                clone.weights_version = 1
            clone.save()
    except IntegrityError as exc:
        raise Conflict(f"you already have a model {new_name!r} in app {app_name!r}") from exc
    return clone


# --- training data and jobs ------------------------------------------------------


def schedule_training(model):
    """Queue a training job unless one is already waiting (it will see every row).

    Call inside a transaction that holds the model's row lock.
    """
    waiting = model.training_jobs.filter(status=JobStatus.QUEUED).first()
    if waiting is not None:
        return waiting
    job = SgtTrainingJob.objects.create(sgt_model=model, owner=model.owner, cpu=1)
    enqueue_job(job)
    SgtModel.objects.filter(pk=model.pk).update(train_state=TrainState.QUEUED)
    model.train_state = TrainState.QUEUED
    return job


def upload_train_data(user, app_name, name, train_data, *, train=True):
    """Append rows to the model's data and (by default) queue its training. Returns (model, job)."""
    model = get_own_model(user, app_name, name)
    rows = parse_train_rows(model, train_data)
    width = model.in_size + model.out_size
    with transaction.atomic():
        model = get_own_model(user, app_name, name, for_update=True)
        total = model.sample_count + rows.shape[0]
        if total > settings.SGT_MAX_MODEL_ROWS or total * width > settings.SGT_MAX_MODEL_VALUES:
            raise TooLarge(
                f"a model holds at most {settings.SGT_MAX_MODEL_ROWS} rows and {settings.SGT_MAX_MODEL_VALUES} numbers; "
                f"it has {model.sample_count} rows"
            )
        TrainChunk.objects.create(sgt_model=model, rows=rows.shape[0], width=width, data=rows.astype("<f4").tobytes())
        model.sample_count = total
        model.save(update_fields=["sample_count", "updated_at"])
        job = schedule_training(model) if train else None
    return model, job


def _wait_for_earlier_jobs(job, handle, timeout):
    """One model trains in one job at a time: a later job waits for the earlier one."""
    deadline = time.monotonic() + timeout
    earlier = SgtTrainingJob.objects.filter(sgt_model_id=job.sgt_model_id, status=JobStatus.RUNNING, pk__lt=job.pk)
    logged = False
    while earlier.exists():
        if not logged:
            handle.log("waiting for the model's earlier training job")
            logged = True
        if time.monotonic() > deadline:
            raise RuntimeError("an earlier training job of this model is still running")
        handle.raise_if_cancelled()
        time.sleep(0.5)


def _thin(points, limit):
    while len(points) > limit:
        points = points[:-1:2] + [points[-1]]
    return points


def run_training(job, handle):
    """The body of a training job: train on every row so far, starting from the current weights."""
    _wait_for_earlier_jobs(job, handle, timeout=settings.SGT_MAX_TRAIN_SECONDS * 2)
    model = SgtModel.objects.filter(pk=job.sgt_model_id).first()
    if model is None:
        raise NotFound("the model was deleted")
    SgtModel.objects.filter(pk=model.pk).update(train_state=TrainState.TRAINING)
    data = training_rows(model)
    if data.shape[0] == 0:
        raise InvalidInput("the model has no training data")
    if model.is_trained:
        network = model_types.network_from_bytes(model.model_type, model.in_size, model.out_size, read_weights(model))
        handle.log(f"continuing from weights v{model.weights_version}")
    else:
        network = model_types.build_network(model.model_type, model.in_size, model.out_size, seed=model.pk)
    handle.log(f"training {model.model_type} {model.in_size}->{model.out_size} on {data.shape[0]} rows")
    last_report = [time.monotonic()]

    def on_epoch(epoch, epochs, loss):
        if time.monotonic() - last_report[0] >= 0.5:
            last_report[0] = time.monotonic()
            handle.progress(epoch / epochs)
            handle.raise_if_cancelled()

    try:
        result = model_types.train(
            network, model.model_type, model.out_size, data, in_size=model.in_size, seed=job.pk,
            max_seconds=settings.SGT_MAX_TRAIN_SECONDS, on_epoch=on_epoch,
        )
    except JobCancelled:
        SgtModel.objects.filter(pk=model.pk).update(
            train_state=TrainState.TRAINED if model.is_trained else TrainState.UNTRAINED
        )
        raise
    except Exception as exc:
        SgtModel.objects.filter(pk=model.pk).update(train_state=TrainState.FAILED, last_error=str(exc)[:2000])
        raise
    handle.log(f"{result.epochs} epochs in {result.seconds:.2f} s, loss {result.final_loss:.6g}")
    _store_training_result(model.pk, job, data.shape[0], result)
    return result.final_loss


def _store_training_result(model_id, job, samples, result):
    blob = model_types.weights_to_bytes(result.network)
    with transaction.atomic():
        model = SgtModel.objects.select_for_update().filter(pk=model_id).first()
        if model is None:
            raise NotFound("the model was deleted during training")
        version = model.weights_version + 1
        old_path = model.weights_path
        model.weights_path = default_storage.save(weights_storage_name(model.pk, version), ContentFile(blob))
        model.weights_version = version
        step = max(1, len(result.history) // 200)
        points = result.history[step - 1 :: step]
        if points[-1] != result.history[-1]:
            points.append(result.history[-1])
        offset = model.epochs_trained
        model.loss_history = _thin(
            list(model.loss_history) + [[offset + e, loss] for e, loss in points], LOSS_HISTORY_POINTS
        )
        model.epochs_trained = offset + result.epochs
        model.last_loss = result.final_loss
        model.last_error = ""
        model.trained_at = timezone.now()
        waiting = model.training_jobs.filter(status=JobStatus.QUEUED).exists()
        model.train_state = TrainState.QUEUED if waiting else TrainState.TRAINED
        model.save()
        SgtTrainingJob.objects.filter(pk=job.pk).update(
            samples=samples, epochs=result.epochs, final_loss=result.final_loss, seconds=result.seconds
        )
        _delete_files_later(old_path)
    return model


def train_now(model):
    """Train in this process, recorded as a job (the seed and the benchmark; no worker).

    Safe inside a transaction: unlike core.jobs.run_job it neither recycles the database
    connection nor starts a heartbeat thread.
    """
    now = timezone.now()
    job = SgtTrainingJob.objects.create(
        sgt_model=model, owner=model.owner, cpu=1, status=JobStatus.RUNNING, started_at=now, heartbeat_at=now,
        attempts=1, worker=worker_name(),
    )
    try:
        run_training(job, JobHandle(SgtTrainingJob, job.pk))
    except Exception as exc:
        finish(SgtTrainingJob, job.pk, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    finish(SgtTrainingJob, job.pk, JobStatus.SUCCEEDED)
    job.refresh_from_db()
    model.refresh_from_db()
    return job


# --- running -----------------------------------------------------------------------


def run_model(user, app_name, name, data):
    return predict_rows(get_own_model(user, app_name, name), data)


def run_model_with_key(*, secret_id, secret_key, app_name, name, data):
    """run_sgt_model's path: the key check and the model lookup in one fresh read (selectors.run_target),
    the network from the in-process cache (sgt.inference, keyed by model id and weights version), and
    no write unless the key's last use is over a minute old (as accounts.services.authenticate_api_key)."""
    if not isinstance(secret_id, str) or not isinstance(secret_key, str) or not secret_id or not secret_key:
        raise AuthError("secret_id and secret_key are required strings")
    now = timezone.now()
    target = run_target(secret_id=secret_id, app_name=str(app_name), name=str(name), now=now,
                        last_used_precision=LAST_USED_PRECISION)
    if target is None or not secret_key_matches(secret_key, target["key_hash"]):
        raise AuthError("invalid, revoked or expired secret_id / secret_key")
    if target["key_stale"]:
        ApiKey.objects.filter(pk=target["key_id"]).update(last_used_at=now)
    if target["model_id"] is None:
        raise NotFound(f"you have no model {name!r} in app {app_name!r}")
    model = SgtModel(
        pk=target["model_id"], owner_id=target["owner_id"], **{
            field: target[field] for field in ("name", "app_name", "model_type", "in_size", "out_size",
                                               "weights_version", "weights_path", "train_state")
        },
    )
    return predict_rows(model, data)


def predict_rows(model, data):
    """A 2-D array of inputs -> float32 array (rows, out_size)."""
    name = model.name
    inputs = parse_matrix(data, "data", widths=(model.in_size,), max_rows=settings.SGT_MAX_RUN_ROWS, max_values=settings.SGT_MAX_RUN_VALUES)
    if not model.is_trained:
        raise NotTrained(
            f"model {name!r} has not been trained yet (state: {model.train_state}); upload training data first"
        )
    return run_network(model, inputs)
