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


def test_celery_is_given_only_settings_it_knows() -> None:
    from celery.app.defaults import DEFAULTS

    from irs.celeryconfig import configure

    unknown = set(configure(Settings())) - set(DEFAULTS)
    assert not unknown, f"not Celery settings (a typo is silently ignored): {unknown}"


def test_a_running_task_is_never_handed_out_twice_and_may_clean_up_before_it_is_killed() -> None:
    from irs.celeryconfig import configure

    config = configure(Settings(task_time_limit=120))
    assert config["broker_transport_options"]["visibility_timeout"] > config["task_time_limit"] == 120
    assert config["task_soft_time_limit"] < config["task_time_limit"]


def test_only_json_crosses_the_broker() -> None:
    from irs.celeryconfig import configure

    config = configure(Settings())
    assert config["accept_content"] == config["result_accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"


def test_a_worker_is_gone_after_three_missed_heartbeats() -> None:
    from irs.fleet.liveness import HEARTBEAT_S, alive

    assert alive(updated_at=0.0, now=2.5 * HEARTBEAT_S)
    assert not alive(updated_at=0.0, now=3 * HEARTBEAT_S)


def test_task_ids_sort_in_the_order_they_were_made() -> None:
    ids = [new_task_id("uploads/dog.jpg") for _ in range(50)]
    assert sorted(ids) == ids and len(set(ids)) == 50
