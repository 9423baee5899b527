"""A small, pure-Python training pipeline: generate data -> train -> evaluate."""
import json
import math
import random
import tempfile
from pathlib import Path

from flowdeck import Param, Workflow, log_artifact, log_metric, log_param, log_params

wf = Workflow(
    "logistic-train",
    description="Trains a logistic-regression classifier on synthetic data and reports its accuracy.",
    params=[
        Param("n_samples", int, 400, min=20, max=100_000, description="Rows of synthetic data"),
        Param("noise", float, 0.3, min=0.0, max=5.0, description="Label noise (std of the logit)"),
        Param("lr", float, 0.5, min=1e-6, max=10.0, description="Learning rate"),
        Param("epochs", int, 40, min=1, max=10_000, description="Passes over the data"),
        Param("seed", int, 7, description="Random seed"),
    ],
)


@wf.step(outputs=["dataset"])
def generate(n_samples: int, noise: float, seed: int):
    """Draws points around two centres and labels them."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n_samples):
        x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1)
        logit = 2.0 * x1 - 1.5 * x2 + 0.5 + rng.gauss(0, noise)
        rows.append((x1, x2, 1 if logit > 0 else 0))
    split = int(0.8 * len(rows))
    log_params({"n_train": split, "n_test": len(rows) - split})
    return {"dataset": {"train": rows[:split], "test": rows[split:]}}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@wf.step(depends_on=["generate"], outputs=["model"])
def train(dataset, lr: float, epochs: int):
    """Batch gradient descent on the log loss; logs the loss every epoch."""
    w = [0.0, 0.0, 0.0]
    train_rows = dataset["train"]
    log_param("optimizer", "batch-gd")
    for epoch in range(epochs):
        grad = [0.0, 0.0, 0.0]
        loss = 0.0
        for x1, x2, y in train_rows:
            p = _sigmoid(w[0] * x1 + w[1] * x2 + w[2])
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            for i, xi in enumerate((x1, x2, 1.0)):
                grad[i] += (p - y) * xi
        n = len(train_rows)
        w = [wi - lr * gi / n for wi, gi in zip(w, grad)]
        log_metric("loss", loss / n, step=epoch)
    return {"model": {"weights": w}}


@wf.step(depends_on=["train", "generate"])
def evaluate(model, dataset):
    """Accuracy on the held-out rows, and the model saved as an artifact."""
    w = model["weights"]
    test = dataset["test"]
    correct = sum(1 for x1, x2, y in test if (_sigmoid(w[0] * x1 + w[1] * x2 + w[2]) > 0.5) == bool(y))
    accuracy = correct / max(1, len(test))
    log_metric("accuracy", accuracy)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.json"
        path.write_text(json.dumps({"weights": w, "accuracy": accuracy}, indent=1))
        log_artifact(path)
    print(f"accuracy={accuracy:.3f}")


if __name__ == "__main__":
    wf.run()
