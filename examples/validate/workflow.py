"""A data-validation pipeline: load a table -> check its schema and ranges -> write a report."""
import csv
import io
import json
import random
import tempfile
from pathlib import Path

from flowdeck import Param, Workflow, log_artifact, log_metric, log_metrics, set_tag

wf = Workflow(
    "data-validation",
    description="Checks a table for missing values, out-of-range numbers and unknown categories.",
    params=[
        Param("rows", int, 1000, min=1, max=1_000_000, description="Rows of sample data to check"),
        Param("missing_rate", float, 0.02, min=0.0, max=1.0, description="Share of cells blanked in the sample"),
        Param("max_missing", float, 0.05, min=0.0, max=1.0, description="Largest acceptable share of missing cells"),
        Param("segments", list, ["retail", "smb", "enterprise"], description="Allowed values of 'segment'"),
        Param("seed", int, 1),
    ],
)


@wf.step(outputs=["table"])
def load(rows: int, missing_rate: float, seed: int):
    """Makes a sample customer table (a real pipeline would read it from storage)."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["customer_id", "age", "monthly_spend", "segment"])
    for i in range(rows):
        cells = [str(i), str(rng.randint(16, 90)), f"{rng.lognormvariate(3, 1):.2f}",
                 rng.choice(["retail", "smb", "enterprise", "unknown"] if rng.random() < 0.01 else ["retail", "smb", "enterprise"])]
        cells = ["" if j and rng.random() < missing_rate else c for j, c in enumerate(cells)]
        writer.writerow(cells)
    return out.getvalue()


@wf.step(depends_on=["load"], outputs=["report"])
def check(table: str, segments: list, max_missing: float):
    """Counts missing cells, ages outside 18-120 and unknown segments."""
    reader = list(csv.DictReader(io.StringIO(table)))
    cells = len(reader) * 4
    missing = sum(1 for r in reader for v in r.values() if v == "")
    bad_age = sum(1 for r in reader if r["age"] and not 18 <= int(r["age"]) <= 120)
    bad_segment = sum(1 for r in reader if r["segment"] and r["segment"] not in segments)
    missing_share = missing / max(1, cells)
    log_metrics({"missing_share": missing_share, "bad_age_rows": bad_age, "bad_segment_rows": bad_segment})
    passed = missing_share <= max_missing
    set_tag("validation", "passed" if passed else "failed")
    return {"rows": len(reader), "missing_share": missing_share, "bad_age_rows": bad_age,
            "bad_segment_rows": bad_segment, "passed": passed}


@wf.step(depends_on=["check"])
def report(report: dict):
    """Saves the findings as report.json."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.json"
        path.write_text(json.dumps(report, indent=1))
        log_artifact(path)
    log_metric("passed", 1.0 if report["passed"] else 0.0)
    print(json.dumps(report))


if __name__ == "__main__":
    wf.run()
