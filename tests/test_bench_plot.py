"""The timeline PNG of a mode (bench/plot.py): a real PNG, one row per session (its height
grows with the sessions), and the three kinds of bars drawn in their colours: model turns
(blue), tool waits (orange), speculative runs (green)."""

import struct

import numpy as np

from paste.bench.modes import MODES
from paste.bench.plot import plot_timeline
from paste.bench.runner import ModeRun, SessionRecord
from paste.bench.tools import ToolRun

ORANGE = np.array((0xFF, 0x7F, 0x0E))
COLOURS = {"model": (0x1F, 0x77, 0xB4),
           "tool wait": tuple(0.8 * ORANGE + 0.2 * 255),  # drawn at alpha 0.8 on white
           "speculative": (0x2C, 0xA0, 0x2C)}


def record(i: int, speculative: bool) -> SessionRecord:
    runs = [ToolRun("search", "search{}", "read_only", True, 10.5, 11.5)] if speculative else []
    return SessionRecord(
        session_id=f"session-{i}", tenant="t", statuses=["completed"], tct_s=4.0,
        start_s=0.5 * i, transcript="", t0=10.0, tool_runs=runs,
        timings={"call_1": {"dispatched_at": 1.0, "observed_s": 1.5}},
        metrics={"turns": [{"started_at": 0.0, "model_s": 1.0},
                           {"started_at": 2.5, "model_s": 1.5}]},
    )


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def has_colour(pixels: np.ndarray, rgb: tuple[float, ...]) -> bool:
    target = np.array(rgb, dtype=float) / 255.0
    return bool((np.abs(pixels[..., :3] - target).max(axis=-1) < 0.02).any())


def test_timeline_png_rows_and_bars(tmp_path):
    import matplotlib.image

    few, many = tmp_path / "few" / "t.png", tmp_path / "many.png"
    plot_timeline(ModeRun(MODES["paste"], [record(0, True), record(1, False)], 5.0, None),
                  few, "paste")
    plot_timeline(ModeRun(MODES["serial"], [record(i, False) for i in range(12)], 5.0, None),
                  many, "serial")
    assert png_size(few) == (1200, 200)  # 12 x 2 inches (the minimum height) at 100 dpi
    assert png_size(many) == (1200, 520)  # 0.35 inch per session + 1
    pixels = matplotlib.image.imread(few)
    assert {name: has_colour(pixels, rgb) for name, rgb in COLOURS.items()} == dict.fromkeys(
        COLOURS, True)
    serial = matplotlib.image.imread(many)
    assert not has_colour(serial, COLOURS["speculative"])  # no speculation, no green
