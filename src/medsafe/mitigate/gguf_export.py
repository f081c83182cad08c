"""Write a fine-tuned model back into the GGUF file it started from, with the ``gguf`` package.

Only the tensors fine-tuning changed are rewritten (as float32, exactly the merged weights);
every other tensor keeps its original bytes and quantisation, and all metadata (tokenizer,
chat template, hyper-parameters) is copied. The result runs in llama.cpp (``gguf:FILE``) and
differs from the base file only by the learned update. Llama-architecture files only: their
query and key matrices are stored in llama.cpp's rotary layout, which this module applies.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from medsafe.errors import MedsafeError

SUPPORTED_ARCHS = ("llama",)


def permute_for_gguf(weights: np.ndarray, n_head: int, n_kv_head: int | None = None) -> np.ndarray:
    """Reorder the rows of a query/key matrix from the transformers rotary layout (two halves
    per head) to llama.cpp's (interleaved pairs); the inverse of what transformers undoes when
    it reads a GGUF file."""
    if n_kv_head is not None and n_head != n_kv_head:
        n_head = n_kv_head
    half = weights.shape[0] // n_head // 2
    return (weights.reshape(n_head, 2, half, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def gguf_tensor_names(reader: Any, hf_names: Iterable[str]) -> dict[str, str]:
    """GGUF tensor name of each transformers parameter name (``...q_proj.weight`` ->
    ``blk.N.attn_q.weight``), through the gguf package's own name map."""
    import gguf

    arch_name = _field(reader, "general.architecture")
    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name), None)
    n_layers = _field(reader, f"{arch_name}.block_count")
    if arch is None or n_layers is None:
        raise MedsafeError(f"GGUF export: unknown architecture {arch_name!r}")
    name_map = gguf.get_tensor_name_map(arch, int(n_layers))
    out = {}
    for hf_name in hf_names:
        stem, _, suffix = hf_name.rpartition(".")
        mapped = name_map.get_name(stem)
        if mapped is None:
            raise MedsafeError(f"GGUF export: no GGUF name for parameter {hf_name}")
        out[hf_name] = f"{mapped}.{suffix}"
    return out


def export_gguf(base_gguf: Path, changed: dict[str, np.ndarray], out_path: Path) -> Path:
    """Copy ``base_gguf`` to ``out_path`` with the tensors in ``changed`` (transformers names,
    float32 arrays in transformers layout) replaced. Written to a temporary file and renamed,
    so an interrupted export never leaves a half-written model."""
    import gguf

    reader = gguf.GGUFReader(base_gguf)
    arch_name = _field(reader, "general.architecture")
    if arch_name not in SUPPORTED_ARCHS:
        raise MedsafeError(f"GGUF export supports {', '.join(SUPPORTED_ARCHS)} files, "
                           f"not {arch_name!r}")
    n_head = int(_field(reader, f"{arch_name}.attention.head_count"))
    n_kv = _field(reader, f"{arch_name}.attention.head_count_kv")
    n_kv_head = n_head if n_kv is None else int(n_kv)
    names = gguf_tensor_names(reader, changed)
    shapes = {t.name: [int(d) for d in reversed(t.shape)] for t in reader.tensors}
    replacements: dict[str, np.ndarray] = {}
    for hf_name, array in changed.items():
        name = names[hf_name]
        if name not in shapes:
            raise MedsafeError(f"GGUF export: {base_gguf} has no tensor {name}")
        if list(array.shape) != shapes[name]:
            raise MedsafeError(f"GGUF export: shape of {name} changed "
                               f"({list(array.shape)} vs {shapes[name]})")
        data = np.ascontiguousarray(array, dtype=np.float32)
        if ".attn_q." in name:
            data = permute_for_gguf(data, n_head, n_head)
        elif ".attn_k." in name:
            data = permute_for_gguf(data, n_head, n_kv_head)
        replacements[name] = np.ascontiguousarray(data)

    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(tmp, arch=arch_name, endianess=reader.endianess)
    alignment = _field(reader, "general.alignment")
    if alignment is not None:
        writer.data_alignment = int(alignment)
    for field in reader.fields.values():
        # The writer sets the architecture and the GGUF.* header fields itself.
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        main = field.types[0]
        sub = field.types[-1] if main == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), main, sub_type=sub)
    for tensor in reader.tensors:
        new = replacements.get(tensor.name)
        if new is None:
            writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype,
                                   tensor.data.nbytes, tensor.tensor_type)
        else:
            writer.add_tensor_info(tensor.name, new.shape, new.dtype, new.nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        new = replacements.get(tensor.name)
        if new is None:
            writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
        else:
            writer.write_tensor_data(new)
    writer.close()
    os.replace(tmp, out_path)
    return out_path
