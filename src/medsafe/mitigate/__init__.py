"""Mitigations: a guard that screens a model's requests and answers (and safety fine-tuning)."""
