"""``openenv-gym bench``: a steps/s table, a JSON report and a plot."""

from __future__ import annotations

import json

import pytest

from openenv_gym.cli import EXIT_USAGE

pytestmark = pytest.mark.fast


def test_bench_measures_each_size_and_writes_a_plot_and_json(cli, tmp_path):
    plot, report = tmp_path / "bench.png", tmp_path / "bench.json"
    code, out, err = cli("bench", "openenv/echo-v0", "--num-envs", "1,4", "--steps", "30", "--provider",
                         "inprocess", "--action", "hello", "--plot", str(plot), "--json", str(report))
    assert code == 0, err
    assert "| N | env-steps/s |" in out
    assert [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")][1:] == ["1", "4"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000
    results = json.loads(report.read_text())["results"]
    assert [r["num_envs"] for r in results] == [1, 4] and all(r["env_steps_per_s"] > 0 for r in results)


def test_bench_samples_random_actions_from_the_action_space(cli):
    code, out, err = cli("bench", "openenv/echo-v0", "--num-envs", "2", "--steps", "5", "--provider", "inprocess")
    assert code == 0, err
    assert "| 2 |" in out


def test_bench_suggests_the_right_id(cli):
    code, _, err = cli("bench", "openenv/echo-v1")
    assert code == EXIT_USAGE
    assert "Did you mean 'openenv/echo-v0'?" in err


def test_bench_refuses_bad_sizes(cli):
    code, _, err = cli("bench", "openenv/echo-v0", "--num-envs", "eight")
    assert code == EXIT_USAGE
    assert "--num-envs takes numbers" in err
