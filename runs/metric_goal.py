"""Which way is better for a metric: the one rule behind "best" in run lists and comparisons."""
from __future__ import annotations

import re

# A key with one of these words (split on anything not a letter or digit) is better lower.
LOWER_IS_BETTER = {"loss", "error", "err", "mse", "mae", "rmse", "mape", "perplexity", "ppl", "wer", "cer", "latency"}


def metric_goal(key: str) -> str:
    """"min" when lower is better for ``key`` (val_loss, error_rate, rmse), else "max"."""
    words = [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]
    if any(w in LOWER_IS_BETTER or w.endswith("loss") for w in words):
        return "min"
    return "max"
