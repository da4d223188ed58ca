"""What each answer S3 gives to a read means for a request: the one table every reader of objects consults.

An answer is either **permanent**: no retry mends it, and the request is answered at once with an error
document of its kind, whose text says what to do; or **transient**: the reader rides it out with backoff
(:func:`irs.aws.clients.patiently`), then raises for Celery to retry the task. Transient is botocore's own
rule (throttling, 5xx, a connection that failed: :func:`irs.aws.clients.transient`). An answer in neither
list is raised at once and retried by Celery like a transient one, up to the task's ``max_retries``; then the
request is answered ``task_failed`` with S3's own words, so a refusal this table does not know yet is seen,
not retried for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from irs.aws.clients import error_code, transient
from irs.results import ErrorKind


@dataclass(frozen=True)
class Permanent:
    """An answer no retry mends: the request's error kind, and what to say, ``{where}`` being the object."""

    kind: ErrorKind
    says: str


_MISSING = Permanent(ErrorKind.MISSING, "no image at {where}: upload it first, or check the key")
_NO_BUCKET = Permanent(ErrorKind.MISSING, "no bucket for {where}: check the bucket's name")
_DENIED = Permanent(ErrorKind.FORBIDDEN, "access denied reading {where}: IRS's role may not read it")
_KMS = Permanent(ErrorKind.FORBIDDEN, "the KMS key that encrypts {where} refuses IRS's role ({code}): grant it "
                 "kms:Decrypt on that key, or check that the key is enabled")
_ARCHIVED = Permanent(ErrorKind.ARCHIVED, "{where} is archived (GLACIER, DEEP_ARCHIVE or an archive tier): restore "
                      "it first (aws s3api restore-object), then ask again once it is restored")

#: Every permanent answer to GetObject, by its error code. The rest are transient, or unknown (raised).
PERMANENT: dict[str, Permanent] = {
    "NoSuchKey": _MISSING,
    "404": _MISSING,
    "NoSuchBucket": _NO_BUCKET,
    "AccessDenied": _DENIED,
    "403": _DENIED,
    "AllAccessDisabled": _DENIED,
    "KMS.DisabledException": _KMS,
    "KMS.KMSInvalidStateException": _KMS,
    "KMS.NotFoundException": _KMS,
    "KMS.AccessDeniedException": _KMS,
    "InvalidObjectState": _ARCHIVED,
}
#: Transient answers named for the docs' table; botocore's rule decides, and also takes any 5xx and dropped
#: connections.
TRANSIENT_EXAMPLES = ("SlowDown", "503", "InternalError", "500", "RequestTimeout", "Throttling",
                      "a refused or reset connection")


def permanent(error: BaseException) -> Permanent | None:
    """What a read's ``error`` means for the request, when no retry mends it; None when it is transient or
    unknown (the caller raises it)."""
    return None if transient(error) else PERMANENT.get(error_code(error) if isinstance(error, Exception) else "")


def table() -> str:
    """The table as Markdown, for the docs."""
    rows = [f"| `{code}` | permanent | `{answer.kind.value}` | {answer.says.format(where='the object', code=code)} |"
            for code, answer in PERMANENT.items()]
    transient = ", ".join(code if " " in code else f"`{code}`" for code in TRANSIENT_EXAMPLES)
    rows.append(f"| {transient} | transient | (none) | ridden out for the task's read patience, then Celery "
                "retries the task with backoff |")
    rows.append("| anything else | unknown | `task_failed` | retried by Celery with backoff as a transient answer "
                "is; after the last retry, answered with S3's own words |")
    head = "| S3's answer | kind of answer | error kind | what IRS does or says |\n|---|---|---|---|\n"
    return head + "\n".join(rows)
