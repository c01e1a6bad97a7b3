from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Job
from core.scoping import ScopedQuerySet


class TrainState(models.TextChoices):
    UNTRAINED = "untrained", _("Untrained")
    QUEUED = "queued", _("Queued for training")
    TRAINING = "training", _("Training")
    TRAINED = "trained", _("Trained")
    FAILED = "failed", _("Training failed")


class SgtModelQuerySet(ScopedQuerySet):
    public = {"is_public": True}


class SgtModel(models.Model):
    """A small torch model that a user creates, feeds with rows, trains, runs and shares.

    `user_unique_id` is the SGT identity of the author: the secret_id of the API key
    that created (or cloned) the model. `owner` is the account behind that key and is
    what scopes "my models".
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sgt_models")
    user_unique_id = models.CharField(max_length=128, db_index=True)
    name = models.CharField(max_length=64)
    app_name = models.CharField(max_length=64)
    model_type = models.CharField(max_length=32)
    in_size = models.PositiveIntegerField()
    out_size = models.PositiveIntegerField()
    is_public = models.BooleanField(default=False, db_index=True)
    client_data = models.JSONField(null=True, blank=True, default=None)

    train_state = models.CharField(max_length=16, choices=TrainState.choices, default=TrainState.UNTRAINED)
    sample_count = models.PositiveIntegerField(default=0)
    last_loss = models.FloatField(null=True, blank=True)
    epochs_trained = models.PositiveIntegerField(default=0)
    # [[cumulative epoch, loss], ...], thinned to at most SGT_LOSS_HISTORY_POINTS points.
    loss_history = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True, default="")
    weights_version = models.PositiveIntegerField(default=0, help_text="0: never trained")
    weights_path = models.CharField(max_length=255, blank=True, default="")
    trained_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


    objects = SgtModelQuerySet.as_manager()
    class Meta:
        ordering = ["app_name", "name"]
        verbose_name = "SGT model"
        constraints = [
            models.UniqueConstraint(fields=["owner", "app_name", "name"], name="sgt_model_unique_per_owner_app"),
        ]

    def __str__(self):
        return f"{self.app_name}/{self.name} ({self.user_unique_id})"

    @property
    def is_trained(self):
        return self.weights_version > 0 and bool(self.weights_path)


class TrainChunk(models.Model):
    """One upload of training rows: float32, row-major, in_size inputs then out_size targets."""

    sgt_model = models.ForeignKey(SgtModel, on_delete=models.CASCADE, related_name="chunks")
    rows = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "training data chunk"

    def __str__(self):
        return f"{self.rows} rows for {self.sgt_model}"


class SgtTrainingJob(Job):
    """Training of one SGT model on all of its rows, on a worker."""

    task_name = "sgt.train_model"

    sgt_model = models.ForeignKey(SgtModel, on_delete=models.CASCADE, related_name="training_jobs")
    samples = models.PositiveIntegerField(default=0, help_text="Rows trained on")
    epochs = models.PositiveIntegerField(default=0, help_text="Epochs run")
    final_loss = models.FloatField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Time spent in the training loop")

    class Meta(Job.Meta):
        verbose_name = "SGT training job"

    def __str__(self):
        return f"training #{self.pk} of {self.sgt_model_id} ({self.status})"
