"""Settings: the broker URL carries its transport options; ids lead to result keys."""

from __future__ import annotations

from irs.results import image_key_of, new_task_id, result_key
from irs.settings import Settings


def test_the_emulator_endpoint_becomes_a_plain_http_sqs_broker() -> None:
    url, options = Settings(endpoint_url="http://127.0.0.1:4566").celery_broker()
    assert url == "sqs://127.0.0.1:4566"
    assert options["is_secure"] is False and options["region"] == "us-east-1"


def test_without_an_endpoint_the_broker_is_aws() -> None:
    url, options = Settings(endpoint_url=None, region="eu-west-1").celery_broker()
    assert url == "sqs://" and options["region"] == "eu-west-1"


def test_options_in_the_broker_url_override_the_defaults() -> None:
    url, options = Settings(broker_url="sqs://?region=ap-south-1&queue_name_prefix=prod-&wait_time_seconds=5"
                            ).celery_broker()
    assert url == "sqs://"
    assert (options["region"], options["queue_name_prefix"], options["wait_time_seconds"]) == \
        ("ap-south-1", "prod-", 5)


def test_a_task_id_names_its_image_and_leads_to_the_result_key() -> None:
    task_id = new_task_id("uploads/a:b/dog.jpg")
    assert image_key_of(task_id) == "uploads/a:b/dog.jpg"
    assert result_key(task_id) == f"results/uploads/a:b/dog.jpg/{task_id[:32]}.json"


def test_foreign_task_ids_get_a_key_of_their_own() -> None:
    assert image_key_of("my-own-id") is None
    assert result_key("my-own-id") == "results/tasks/my-own-id.json"


def test_the_visibility_timeout_stays_above_the_hard_time_limit() -> None:
    settings = Settings(task_time_limit=120)
    assert settings.visibility_timeout > 120


def test_task_ids_sort_in_the_order_they_were_made() -> None:
    ids = [new_task_id("uploads/dog.jpg") for _ in range(50)]
    assert sorted(ids) == ids and len(set(ids)) == 50
