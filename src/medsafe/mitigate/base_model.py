"""The model a fine-tuning starts from: where it is, how medsafe serves it as a target, and how
transformers loads it (a GGUF file is read by transformers through the ``gguf`` package and
dequantised to float32)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError

SPEC_HELP = "give embedded:smollm2, gguf:FILE, hf:DIR or a model folder"


@dataclass(frozen=True)
class ModelSource:
    """A base model: its folder, the GGUF file in it (if any) and its target spec."""

    spec: str
    model_dir: Path
    gguf_file: str | None
    target_spec: str

    @property
    def gguf_path(self) -> Path | None:
        """The GGUF file, for a base that is one."""
        return None if self.gguf_file is None else self.model_dir / self.gguf_file


def _gguf(spec: str, path: Path, target_spec: str) -> ModelSource:
    if not path.is_file():
        raise MedsafeError(f"base model {spec}: GGUF file not found: {path}")
    return ModelSource(spec, path.parent, path.name, target_spec)


def _folder(spec: str, path: Path) -> ModelSource:
    if not path.is_dir():
        raise MedsafeError(f"base model {spec}: folder not found: {path} ({SPEC_HELP})")
    if not (path / "config.json").is_file():
        raise MedsafeError(f"base model {spec}: {path} has no config.json, so it is not a "
                           "transformers model folder")
    return ModelSource(spec, path, None, f"hf:{path}")


def resolve_base(spec: str) -> ModelSource:
    """Locate the base model a spec names, failing with a one-line error if it is not there."""
    kind, _, rest = spec.partition(":")
    if kind == "embedded":
        from medsafe.targets.embedded import model_path

        if rest not in ("", "smollm2"):
            raise MedsafeError(f"unknown embedded model '{rest}' (available: smollm2)")
        return _gguf(spec, model_path(), "embedded:smollm2")
    if kind == "gguf":
        path = Path(rest).expanduser()
        return _gguf(spec, path, f"gguf:{path}")
    if kind == "hf":
        if "+lora:" in rest:
            raise MedsafeError(f"base model {spec}: merge the adapter first and fine-tune the "
                               "merged folder (hf:DIR without +lora)")
        return _folder(spec, Path(rest).expanduser())
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        return _gguf(spec, path, f"gguf:{path}")
    if path.exists():
        return _folder(spec, path)
    raise MedsafeError(f"base model '{spec}' not found: {SPEC_HELP}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def load_base(source: ModelSource, dtype: Any) -> tuple[Any, Any]:
    """Load (model, tokenizer) with transformers; a model it cannot read is a one-line error."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.model_dir, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source.model_dir, dtype=dtype, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, NotImplementedError) as exc:
        raise MedsafeError(f"cannot load base model {source.spec}: {_first_line(exc)}") from exc
    if not getattr(tokenizer, "chat_template", None):
        raise MedsafeError(f"base model {source.spec} has no chat template: fine-tuning trains "
                           "on chat turns in the model's own format")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return _as_plain_model(model, source), tokenizer


def _as_plain_model(model: Any, source: ModelSource) -> Any:
    """Detach the GGUF loader's quantiser from a model whose weights it dequantised.

    transformers keeps the quantiser object (and a quantisation record in the config) even when
    every weight was dequantised to a plain tensor, and then refuses to train or save the model.
    """
    if getattr(model, "hf_quantizer", None) is None:
        return model
    packed = [name for name, module in model.named_modules() if type(module).__name__ == "GgufLinear"]
    if packed:
        raise MedsafeError(f"base model {source.spec}: transformers kept {len(packed)} layers in "
                           "packed GGUF blocks, which cannot be trained (uninstall `kernels` to "
                           "have them dequantised)")
    model.hf_quantizer.remove_quantization_config(model)
    for module in model.modules():
        if getattr(getattr(module, "config", None), "_is_quantized", False):
            module.config._is_quantized = False
    return model
