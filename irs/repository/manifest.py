"""What a model version in the repository is: its manifest, its name's rules, and where its files live.

A version is stored under ``models/NAME/<version>/`` in the results bucket: the three Darknet files
and ``manifest.json``, written last, so a version whose upload broke off has no manifest and does
not exist. ``version`` is the sha256 of the three files' sha256 sums, kind and input size: the same
files added twice are one version. A manifest read back from S3 is untrusted like any document:
it is validated here, every field bounded.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from irs.contract import MODEL_NAME

PREFIX = "models/"
#: A model's name: no path characters, no "@" (it separates a pinned version); not a built-in's name either.
NAME_PATTERN = f"^{MODEL_NAME}$"
VERSION_PATTERN = r"^[0-9a-f]{64}$"
Role = Literal["cfg", "weights", "names"]
ROLES: tuple[Role, ...] = ("cfg", "weights", "names")
#: The names the files take in a version's folder, whatever they were called when added.
FILE_NAMES = {"cfg": "model.cfg", "weights": "model.weights", "names": "model.names"}


class StoredFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1, le=2**31)


class Checked(BaseModel):
    """What ``irs model add`` measured when it ran the model, on the machine that added it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: int = Field(ge=1, le=100_000)
    ms_per_image: float = Field(ge=0, le=3.6e6)
    network_mb: float = Field(ge=-1e6, le=1e6)  # peak memory the network added to its process
    peak_mb: float = Field(ge=0, le=1e7)  # the checking process's peak memory


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN)
    kind: Literal["detector", "classifier"]
    input_size: int = Field(ge=32, le=2048)
    labels: list[str] = Field(min_length=1, max_length=100_000)
    files: dict[Role, StoredFile]
    added_at: str = Field(max_length=40)
    added_by: str = Field(default="", max_length=200)
    checked: Checked | None = None  # None for a version added before IRS measured its models

    @property
    def short(self) -> str:
        return self.version[:12]

    @property
    def ref(self) -> str:
        """``NAME@<short version>``: how a request pins this version."""
        return f"{self.name}@{self.short}"


def version_of(files: dict[Role, StoredFile], kind: str, input_size: int) -> str:
    content = "\n".join([*(f"{role} {files[role].sha256}" for role in ROLES), kind, str(input_size)])
    return hashlib.sha256(content.encode()).hexdigest()


def folder(name: str, version: str) -> str:
    return f"{PREFIX}{name}/{version}/"


def manifest_key(name: str, version: str) -> str:
    return f"{folder(name, version)}manifest.json"
