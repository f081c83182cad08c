"""Native loaders for public benchmark files the user already has on disk; nothing is downloaded.

Each ``load_<format>`` reads one benchmark in the layout its authors publish and returns its
samples (packed as read, see ``PackedSamples``). ``load_external`` dispatches by format name and
also returns a reproducibility record: every file read with its SHA-256 and row count, and the
categories a partial folder lacks.

Loaders are strict on purpose: a missing path, an empty file, a wrong header, bad UTF-8 or a row
without a field is an ``InputError`` naming the file, line and field, because a silently short
dataset would make a model look safer (or more capable) than it is.

One module per format; ``_reading`` holds the strict reading they share and ``registry`` the
table of formats.
"""

from medsafe.data.loaders.advbench import load_advbench
from medsafe.data.loaders.generic import GENERIC_KEYS, load_generic, parse_column_mapping
from medsafe.data.loaders.hexphi import HEXPHI_CATEGORIES, HEXPHI_WITHHELD, load_hexphi
from medsafe.data.loaders.mcq import MCQ_INSTRUCTION, mcq_prompt, mcq_stem
from medsafe.data.loaders.medmcqa import load_medmcqa
from medsafe.data.loaders.medqa import load_medqa
from medsafe.data.loaders.medsafetybench import MSB_CATEGORIES, MSB_SOURCES, MSB_SPLITS, load_medsafetybench
from medsafe.data.loaders.mmlu import MMLU_FIELDS, load_mmlu
from medsafe.data.loaders.pubmedqa import PUBMEDQA_OPTIONS, load_pubmedqa
from medsafe.data.loaders.registry import LOADERS, LoaderInfo, Task, load_external
from medsafe.data.loaders.xstest import load_xstest

__all__ = [
    "GENERIC_KEYS", "HEXPHI_CATEGORIES", "HEXPHI_WITHHELD", "LOADERS", "MCQ_INSTRUCTION", "MMLU_FIELDS",
    "MSB_CATEGORIES", "MSB_SOURCES", "MSB_SPLITS", "PUBMEDQA_OPTIONS", "LoaderInfo", "Task",
    "load_advbench", "load_external", "load_generic", "load_hexphi", "load_medmcqa", "load_medqa",
    "load_medsafetybench", "load_mmlu", "load_pubmedqa", "load_xstest", "mcq_prompt", "mcq_stem",
    "parse_column_mapping",
]
