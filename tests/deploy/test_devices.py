"""Each edge device's policy names its own things only, and nothing that configures a queue."""

from __future__ import annotations

import json

import pytest

from irs.deploy.devices import DeviceError, Place, check_name, device_statements, user_name

PLACE = Place(partition="aws", region="eu-west-1", account="111122223333", queue_prefix="prod-",
              input_bucket="prod-uploads", results_bucket="prod-results", results_prefix="results/")


def _resources(device: str, action: str, effect: str = "Allow") -> list[str]:
    return [r for s in device_statements(PLACE, device) if s["Effect"] == effect and action in s["Action"]
            for r in s["Resource"]]


def test_a_device_consumes_its_own_queue_and_the_shared_edge_queue_only() -> None:
    queues = "arn:aws:sqs:eu-west-1:111122223333:"
    assert sorted(_resources("pi1", "sqs:ReceiveMessage")) == [f"{queues}prod-device-pi1", f"{queues}prod-edge"]
    assert _resources("pi1", "sqs:SendMessage") == [f"{queues}prod-device-pi1", f"{queues}prod-edge",
                                                    f"{queues}prod-device-pi1-dlq", f"{queues}prod-edge-dlq",
                                                    f"{queues}prod-cloud"]


def test_a_device_writes_its_own_uploads_and_report_and_reads_no_other_devices_uploads() -> None:
    assert _resources("pi1", "s3:PutObject") == ["arn:aws:s3:::prod-uploads/uploads/devices/pi1/*",
                                                 "arn:aws:s3:::prod-results/results/*",
                                                 "arn:aws:s3:::prod-results/fleet/edge/pi1.json"]
    assert _resources("pi1", "s3:GetObject", "Deny") == ["arn:aws:s3:::prod-uploads/uploads/devices/*"]
    assert "pi2" not in json.dumps(device_statements(PLACE, "pi1"))


def test_no_device_may_create_or_configure_a_queue_or_touch_ec2_or_iam() -> None:
    actions = {a for s in device_statements(PLACE, "pi1") for a in s["Action"]}
    assert not {a for a in actions if a in ("sqs:CreateQueue", "sqs:SetQueueAttributes", "sqs:DeleteQueue",
                                            "sqs:AddPermission") or a.startswith(("ec2:", "iam:", "sns:"))}
    assert all("*" not in a for a in actions)


def test_device_names_are_checked_before_anything_is_made() -> None:
    assert user_name("prod-", check_name("pi-kitchen-2")) == "prod-device-pi-kitchen-2"
    for bad in ("", "Pi1", "-pi", "pi/1", "pi*", "x" * 33):
        with pytest.raises(DeviceError, match="not a device name"):
            check_name(bad)
