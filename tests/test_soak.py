"""The soak script's judgement, and a short real soak."""

from __future__ import annotations

from edge_emojify.soak import main, verdict


def test_verdict_flags_a_leak_and_a_slowdown_but_not_warm_up():
    flat = [(i * 1000, 100.0 + (8 if i > 0 else 0) + 0.1 * i, 5.0) for i in range(10)]
    assert verdict(flat, 5.0, 2.0) == []  # 8 MiB in the first window is warm-up
    leak = [(i * 1000, 100.0 + 1.0 * i, 5.0) for i in range(10)]
    assert "a leak" in verdict(leak, 5.0, 2.0)[0]
    slow = [(i * 1000, 100.0, 5.0 if i < 8 else 12.0) for i in range(10)]
    assert "p95 frame time rose" in verdict(slow, 5.0, 2.0)[0]
    assert verdict(slow, 5.0, 0.0) == []  # timing judged only when asked (a noisy machine stretches windows)
    assert verdict(flat[:1], 5.0, 2.0) != []


def test_short_soak_runs_clean(capsys):
    assert main(["--frames", "600", "--every", "100", "--faces", "2", "--max-growth-mb", "20",
                 "--max-p95-ratio", "10"]) == 0
    out = capsys.readouterr().out
    assert out.count("frames  RSS") == 6
