"""IRS's emulator, told the resource of every request its IAM evaluator sees.

moto evaluates identity policies against a resource only for S3 (bucket and
key), STS (the role) and SQS requests that name an existing queue by URL; for
everything else it asks about the resource ``*``, which a statement scoped to
ARNs never matches, so least privilege could not be tested at all. This adds
what AWS itself would name, for the calls IRS makes:

- SQS ``CreateQueue`` and ``GetQueueUrl``: the queue named by ``QueueName``;
- SNS: the topic (``TopicArn``, or ``Name`` for ``CreateTopic``), or for
  ``Unsubscribe`` the subscription;
- EC2 ``RunInstances``: ``instance/*``; ``TerminateInstances`` and
  ``CreateTags``: each instance or resource named, every one of which must be
  allowed (AWS authorizes each).

It names the IAM action of SQS's batch calls as AWS does (``SendMessageBatch``
is authorized as ``sqs:SendMessage``; moto asks for ``sqs:SendMessageBatch``,
an action no policy can grant). It also lets the evaluator read the inline policies CloudFormation gave the
roles, which moto keeps as objects where its evaluator expects JSON text.

Conditions and resource policies are still not evaluated (SECURITY.md lists
what this covers). Run it as ``python -m tests.deploy.iam_emulator --port N``;
enforcement starts when a caller POSTs 0 to ``/moto-api/reset-auth``.
"""

from __future__ import annotations

import json
from typing import Any

from irs.aws import emulator


def _arn(response: Any, service: str, name: str) -> str:
    return f"arn:aws:{service}:{response.region}:{response.current_account}:{name}"


def _sqs(original: Any) -> Any:
    def resource(self: Any) -> str:
        if self._get_action() in ("CreateQueue", "GetQueueUrl"):
            return _arn(self, "sqs", self._get_param("QueueName"))
        return str(original(self))
    return resource


def _sns(self: Any) -> str:
    if self._get_action() == "CreateTopic":
        return _arn(self, "sns", self._get_param("Name"))
    if self._get_action() == "Unsubscribe":
        return str(self._get_param("SubscriptionArn"))
    return str(self._get_param("TopicArn") or "*")


def _ec2_instances(self: Any) -> list[str]:
    action = self._get_action()
    if action == "RunInstances":
        return [_arn(self, "ec2", "instance/*")]
    if action in ("TerminateInstances", "CreateTags"):
        ids = self._get_param("InstanceIds" if action == "TerminateInstances" else "Resources", [])
        return [_arn(self, "ec2", f"instance/{i}") for i in ids]
    return ["*"]


def _authorize_each(original: Any) -> Any:
    """EC2 authorizes each resource of a request: ask the evaluator about every one."""
    def authorize(self: Any, resource: str = "*") -> None:
        from moto.ec2.responses import EC2Response

        for each in _ec2_instances(self) if isinstance(self, EC2Response) else [resource]:
            original(self, each)
    return authorize


def _readable(original: Any) -> Any:
    def init(self: Any, policy: Any) -> None:
        if isinstance(policy, dict) and "Statement" in policy:
            policy = json.dumps(policy)
        original(self, policy)
    return init


#: API operations AWS authorizes as another IAM action.
IAM_ACTION = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
              "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


def _as_aws_names(original: Any) -> Any:
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._action = IAM_ACTION.get(self._action, self._action)
    return init


def install() -> None:
    from moto.core.responses import BaseResponse
    from moto.iam.access_control import IAMPolicy, IAMRequestBase
    from moto.sns.responses import SNSResponse
    from moto.sqs.responses import SQSResponse

    SQSResponse._determine_resource = _sqs(SQSResponse._determine_resource)  # type: ignore[method-assign]
    SNSResponse._determine_resource = _sns  # type: ignore[attr-defined]
    IAMRequestBase.__init__ = _as_aws_names(IAMRequestBase.__init__)  # type: ignore[method-assign]
    IAMPolicy.__init__ = _readable(IAMPolicy.__init__)  # type: ignore[method-assign]
    BaseResponse._authenticate_and_authorize_normal_action = _authorize_each(  # type: ignore[method-assign]
        BaseResponse._authenticate_and_authorize_normal_action)


if __name__ == "__main__":
    emulator.main(prepare=install)
