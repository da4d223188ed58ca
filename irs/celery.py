"""The Celery application: ``celery -A irs worker -Q cloud`` finds it here."""

from celery import Celery

from irs.aws import use_emulator_credentials
from irs.lifecycle import Lifecycle

use_emulator_credentials()
app = Celery("irs", include=["irs.tasks"])
app.config_from_object("irs.celeryconfig")
app.steps["consumer"].add(Lifecycle)
