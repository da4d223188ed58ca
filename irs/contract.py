"""The ``classify`` task's contract, written once: its name, its arguments, the headers IRS puts on it.

The task (:mod:`irs.tasks`), its callers (:mod:`irs.client`, the web tier, the edge), the router, the
worker's lifecycle and the admission check (:mod:`irs.broker.envelope`) all read a call through this
module, so changing the contract is a change here. Importing it loads nothing but the standard library.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

TASK_NAME = "irs.tasks.classify"
PARAMETERS = ("image_key", "model")  # in order: classify(image_key, model=None)

SENT_AT = "irs_sent_at"  # header: when the request was published (epoch seconds)
UPLOAD_MS = "irs_upload_ms"  # header: how long the submitter took to upload the image
ROUTE = "irs_route"  # header: the routing decision (where, why, what each pool was expected to take)
OWNER = "irs_owner"  # header: whose request it is (a web token's name, a job's or a command's operator)
FILENAME = "irs_filename"  # header: the name the image was uploaded with, cleaned (a label, never a path)

#: Who may own a request: the name of an API token, of a job's operator, of a command's user. It also names the
#: owner's part of every web upload's key, so the grammar leaves no room for a path.
OWNER_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
MAX_FILENAME = 255  # characters of an uploaded file's name kept as its label (a file system's limit)

#: What a request may call a model: ``NAME`` (a built-in model, or a repository model's latest version) or
#: ``NAME@<version prefix>`` (4 to 64 hex digits pin one). The grammar leaves no room for a path.
MODEL_NAME = r"[a-z0-9][a-z0-9._-]{0,62}"
MODEL_REF = rf"^{MODEL_NAME}(@[0-9a-f]{{4,64}})?$"


class BadCall(ValueError):
    """The arguments are not ``(image_key[, model])``, positionally or by name."""

    def __init__(self) -> None:
        super().__init__("classify takes the image key and, optionally, a model")


@dataclass(frozen=True)
class Call:
    """A classify call's arguments, as sent: their types are the caller's, checked by whoever must trust them."""

    image_key: Any
    model: Any = None


def arguments(image_key: str, model: str | None = None) -> tuple[str, ...]:
    """The positional arguments of a call: the key, and the model when one is chosen."""
    return (image_key, model) if model else (image_key,)


def call_of(args: Any, kwargs: Any) -> Call:
    """The call that ``args`` and ``kwargs`` make; :class:`BadCall` unless they fill the parameters once each,
    the image key among them."""
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict) or len(args) > len(PARAMETERS) \
            or not set(kwargs) <= set(PARAMETERS):
        raise BadCall
    named = dict(zip(PARAMETERS, args, strict=False))
    if set(named) & set(kwargs) or "image_key" not in {**named, **kwargs}:
        raise BadCall
    return Call(**named, **kwargs)


def model_of(args: Any, kwargs: Any) -> str | None:
    """The model a call names, or None (the worker's default, or a call too malformed to name one)."""
    try:
        model = call_of(list(args or ()), dict(kwargs or {})).model
    except BadCall:
        return None
    return model if isinstance(model, str) else None


def with_model(args: Any, kwargs: Any, model: str) -> tuple[list[Any], dict[str, Any]]:
    """The same call with its model replaced, where the caller put it (by position or by name)."""
    args, kwargs = list(args or ()), dict(kwargs or {})
    if len(args) > 1:
        args[1] = model
    else:
        kwargs["model"] = model
    return args, kwargs


def split_ref(ref: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@<version prefix>`` into the name and the prefix (None: the latest)."""
    name, _, version = ref.partition("@")
    return name, version or None


def owner_name(text: str) -> str:
    """``text`` (a login name, say) made an owner's name: lower case, each other character a ``-``; raises
    ValueError if nothing of it is left."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:40]
    if not re.fullmatch(OWNER_NAME, name):
        raise ValueError(f"{text!r} cannot name an owner: 1 to 40 of a-z, 0-9, _ and -, starting with one of the "
                         "first two")
    return name


def clean_filename(name: str) -> str | None:
    """An uploaded file's name as a label: its last part only (either kind of slash), control characters
    dropped, cut to MAX_FILENAME; None when nothing is left."""
    last = PureWindowsPath(PurePosixPath(name).name).name
    kept = "".join(c for c in unicodedata.normalize("NFC", last) if unicodedata.category(c)[0] != "C").strip()
    return kept[:MAX_FILENAME] or None
