"""What a request may call a model, written once: ``NAME`` or ``NAME@<version prefix>``.

``NAME`` is a built-in model's name or a repository model's (:mod:`irs.repository`), whose latest version it
means; ``@`` and 4 to 64 hex digits of a version pin one. The grammar leaves no room for a path.
"""

from __future__ import annotations

MODEL_NAME = r"[a-z0-9][a-z0-9._-]{0,62}"
MODEL_REF = rf"^{MODEL_NAME}(@[0-9a-f]{{4,64}})?$"


def split_ref(ref: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@<version prefix>`` into the name and the prefix (None: the latest)."""
    name, _, version = ref.partition("@")
    return name, version or None
