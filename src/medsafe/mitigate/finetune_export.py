"""The outputs of a trained adapter: the adapter and merged-model folders and, for a GGUF base,
the merged weights written back into a copy of the base's GGUF file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medsafe.errors import MedsafeError
from medsafe.mitigate.base_model import ModelSource
from medsafe.mitigate.finetune_config import FinetuneConfig
from medsafe.mitigate.finetune_hooks import FinetuneHooks


def save_outputs(peft_model: Any, tokenizer: Any, out: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Save the adapter and the merged model; return their folders and the merged weights of
    every module the adapter wrapped (for the GGUF export)."""
    from peft.tuners.lora import LoraLayer

    adapter_dir, merged_dir = out / "adapter", out / "merged"
    peft_model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(adapter_dir)
    wrapped = [name.removeprefix("base_model.model.") for name, module in
               peft_model.named_modules() if isinstance(module, LoraLayer)]
    merged = peft_model.merge_and_unload()
    merged.config.use_cache = True  # trl switches the KV cache off for training
    merged.save_pretrained(merged_dir)
    tokenizer.save_pretrained(merged_dir)
    state = merged.state_dict()
    changed = {f"{name}.weight": state[f"{name}.weight"].detach().float().cpu().numpy()
               for name in wrapped}
    return adapter_dir, merged_dir, changed


def export_merged_gguf(config: FinetuneConfig, source: ModelSource, changed: dict[str, Any], out: Path,
                       hooks: FinetuneHooks) -> tuple[str | None, str | None]:
    """Write OUT/model.gguf for a GGUF base; returns (path, why it was skipped). A base the
    exporter cannot handle is reported, not fatal: the merged folder is still a target."""
    from medsafe.mitigate.gguf_export import export_gguf

    if source.gguf_path is None or not config.export_gguf:
        return None, None
    path = out / "model.gguf"
    hooks.message(f"writing {path}")
    try:
        export_gguf(source.gguf_path, changed, path)
    except MedsafeError as exc:
        hooks.message(f"GGUF export skipped: {exc}")
        return None, f"GGUF export skipped: {exc}"
    return str(path), None
