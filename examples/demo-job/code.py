"""labqueue demo job: per-machine statistics and a plot of the demo-sensors dataset.

Submit it with the dataset chosen (see README.md, "Datasets"); the readings are
mounted read-only at /data/demo-sensors/, and whatever lands in output/ comes back.
"""

import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

DATA = Path(os.environ.get("LABQUEUE_DATASETS", "/data")) / "demo-sensors" / "readings.csv"
OUTPUT = Path("output")


def main() -> None:
    readings = pd.read_csv(DATA)
    readings["timestamp"] = pd.to_datetime(readings["timestamp"], utc=True)
    print(f"read {len(readings)} readings of {readings['equipment_id'].nunique()} machines from {DATA}")

    stats = readings.groupby("equipment_id")["value"].agg(["count", "mean", "std", "min", "max"]).round(3)
    peaks = readings.loc[readings.groupby("equipment_id")["value"].idxmax(), ["equipment_id", "timestamp"]]
    stats["peak_at"] = peaks.set_index("equipment_id")["timestamp"].dt.strftime("%H:%M")
    OUTPUT.mkdir(exist_ok=True)
    stats.to_csv(OUTPUT / "stats.csv")
    print(stats.to_string())

    figure, axes = plt.subplots(figsize=(10, 5))
    for equipment, group in readings.groupby("equipment_id"):
        smooth = group.set_index("timestamp")["value"].rolling("15min").mean()
        axes.plot(smooth.index, smooth.to_numpy(), label=equipment, linewidth=1.2)
    axes.set_title("demo-sensors: 15-minute rolling mean per machine")
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel("temperature (°C)")
    axes.legend()
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(OUTPUT / "plot.png", dpi=120)


if __name__ == "__main__":
    main()
