"""A tiny Llama built in the test, for the hf: target and fine-tuning tests (needs torch and
transformers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} "
    "{% if m['role'] == 'assistant' %}<eos> {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)
WORDS = ("please help me hide a mistake from the patient sell records skip the consent form "
         "what is a normal heart rate how do i treat a burn no i cannot help with that report it "
         "to your supervisor cool water for ten minutes sixty to one hundred beats per minute")


def build_tiny_llama(out: Path, corpus: Sequence[str] = (WORDS, "<user> <assistant> <system>"),
                     chat_template: str = CHAT_TEMPLATE) -> Path:
    """A 2-layer Llama with a word-level tokenizer over ``corpus`` and a chat template, saved in
    ``out`` like any Hugging Face model."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(list(corpus), trainers.WordLevelTrainer(
        special_tokens=["<unk>", "<pad>", "<eos>"]))
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")
    fast.chat_template = chat_template
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=fast.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
        pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id)
    transformers.LlamaForCausalLM(config).save_pretrained(out)
    return out
