"""SGT demo data: an API key for the demo researcher and a small trained model.

The key's secret comes from CRUCIBLE_SGT_DEMO_SECRET_KEY; without it a development
instance uses the documented demo secret below and production generates one, printed
once. The model (app "demo", name "line", y = 2x + 1) is trained in-process, in about a
second, through a job record like any other training run.
"""

import os
import secrets

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model

from accounts.models import ApiKey
from accounts.services import create_api_key

from .models import SgtModel
from .services import create_model, train_now, upload_train_data

User = get_user_model()

DEMO_SECRET_ID = "sgt-demo"
DEV_SECRET_KEY = "crucible-sgt-demo-secret"
DEMO_APP, DEMO_MODEL = "demo", "line"


def _demo_user():
    user = User.objects.filter(username="researcher").first()
    if user is None:
        user, created = User.objects.get_or_create(username="sgt-demo")
        if created:
            user.set_unusable_password()
            user.save()
    return user


def run(stdout):
    user = _demo_user()
    key = ApiKey.objects.filter(secret_id=DEMO_SECRET_ID).first()
    if key is None:
        secret = os.environ.get("CRUCIBLE_SGT_DEMO_SECRET_KEY") or (
            secrets.token_urlsafe(24) if settings.PRODUCTION else DEV_SECRET_KEY
        )
        key, _ = create_api_key(user, description="SGT demo key", secret_id=DEMO_SECRET_ID, secret_key=secret)
        stdout.write(f"sgt: API key for {user.username}: secret_id={DEMO_SECRET_ID} secret_key={secret}\n")
    else:
        stdout.write(f"sgt: API key {DEMO_SECRET_ID} exists (owner {key.user.username})\n")
    user = key.user

    model = SgtModel.objects.filter(owner=user, app_name=DEMO_APP, name=DEMO_MODEL).first()
    if model is None:
        model = create_model(
            user, DEMO_SECRET_ID, name=DEMO_MODEL, app_name=DEMO_APP, model_type="linear_regression",
            in_size=1, out_size=1, client_data={"about": "y = 2x + 1, the SGT demo"}, is_public=True,
        )
    if not model.is_trained:
        if model.sample_count == 0:
            x = np.linspace(-5, 5, 101)
            upload_train_data(user, DEMO_APP, DEMO_MODEL, np.column_stack([x, 2 * x + 1]).tolist(), train=False)
            model.refresh_from_db()
        job = train_now(model)
        stdout.write(f"sgt: trained {DEMO_APP}/{DEMO_MODEL}: {job.status}, loss {job.final_loss}\n")
    else:
        stdout.write(f"sgt: model {DEMO_APP}/{DEMO_MODEL} is trained (weights v{model.weights_version})\n")
