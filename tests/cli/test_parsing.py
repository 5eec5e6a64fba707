"""The command line's pure parts: sizes, durations, env pairs, error messages, tables, log windows."""

import pytest
from click.testing import CliRunner

from taller_cli.client import flatten_errors
from taller_cli.main import TallerError, cli, default_name, finish, job_request, metrics_of, run_row
from taller_cli.output import fields, flatten, table
from taller_cli.parsing import new_log_lines, parse_cpu, parse_env, parse_memory_mib, parse_minutes


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("8Gi", 8192),
        ("512Mi", 512),
        ("2G", 1908),
        ("1.5Gi", 1536),
        ("1024", 1024),
        ("8GiB", 8192),
        ("8gi", 8192),
        ("1Ti", 1048576),
        ("1048576Ki", 1024),
        ("1500K", 2),
    ],
)
def test_memory_sizes(text, mib):
    assert parse_memory_mib(text) == mib


@pytest.mark.parametrize("text", ["", "8X", "Gi", "-1Gi", "1,5Gi", "0", "0.0Gi", "8 Gi Gi"])
def test_bad_memory_sizes(text):
    with pytest.raises(ValueError, match="invalid size"):
        parse_memory_mib(text)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("2h", 120), ("90m", 90), ("1h30m", 90), ("1d", 1440), ("1d2h", 1560), ("45", 45), ("2H", 120)],
)
def test_durations(text, minutes):
    assert parse_minutes(text) == minutes


@pytest.mark.parametrize("text", ["", "2x", "h", "30m1h", "0m", "0", "1.5h", "-5m", "2 hours"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_minutes(text)


@pytest.mark.parametrize(("text", "cores"), [("2", 2.0), ("0.5", 0.5), ("500m", 0.5), ("1500m", 1.5)])
def test_cpu(text, cores):
    assert parse_cpu(text) == cores


@pytest.mark.parametrize("text", ["", "two", "0", "-1", "m", "nan", "inf"])
def test_bad_cpu(text):
    with pytest.raises(ValueError, match="invalid CPU"):
        parse_cpu(text)


def test_default_name_is_the_command_within_the_portals_limit():
    assert default_name(("python", "train.py", "--lr", "0.1")) == "python train.py --lr 0.1"
    assert default_name(("echo", "two\n  lines")) == "echo two lines"
    long = default_name(("python", "x" * 200))
    assert len(long) == 100 and long.endswith("...")


def test_env_pairs():
    assert parse_env(["A=1", "B=x=y", "EMPTY=", "A=2"]) == {"A": "2", "B": "x=y", "EMPTY": ""}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_env(["NOVALUE"])
    with pytest.raises(ValueError, match="name"):
        parse_env(["1BAD=x"])
    with pytest.raises(ValueError, match="invalid environment variable name"):
        parse_env(["FOO\n=x"])


def test_job_request_leaves_unset_values_to_the_portal_but_names_the_job():
    body = job_request(
        project="genomics",
        image="python:3.11",
        command=("python", "-c", "print(1)"),
        name=None,
        env={"SEED": "1"},
        resources={"cpu": 0.5, "memory_mib": 8192, "gpus": None, "gpu_type": None},
        time_limit_minutes=None,
    )
    assert body == {
        "project": "genomics",
        "name": "python -c print(1)",
        "image": "python:3.11",
        "command": ["python", "-c", "print(1)"],
        "env": {"SEED": "1"},
        "resources": {"cpu": 0.5, "memory_mib": 8192},
    }


def test_api_errors_become_one_line_per_field():
    body = {
        "resources": {"gpus": ["Too many.", "Really."]},
        "image": ["Required."],
        "non_field_errors": ["No."],
    }
    assert flatten_errors(body) == [
        "resources.gpus: Too many.",
        "resources.gpus: Really.",
        "image: Required.",
        "No.",
    ]
    assert flatten_errors({"detail": "Not found."}) == ["Not found."]
    assert flatten_errors({"command": {"0": ["Bad\nline."]}}) == ["command.0: Bad line."]
    assert flatten_errors([{"a": ["x"]}]) == ["[0].a: x"]


def test_new_log_lines_finds_the_overlap():
    assert new_log_lines([], ["a", "b"]) == ["a", "b"]
    assert new_log_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_log_lines(["a", "b"], ["a", "b"]) == []
    assert new_log_lines(["x", "x"], ["x", "x", "x"]) == ["x"]
    assert new_log_lines(["a", "b"], ["y", "z"]) == ["y", "z"]


def test_table_has_fixed_width_columns_and_cuts_long_cells():
    text = table(["id", "name"], [[1, "short"], [22, "x" * 80], [3, None]])
    lines = text.splitlines()
    assert lines[0].startswith("ID  NAME")
    assert lines[1] == "1   short"
    assert lines[2].startswith("22  " + "x" * 47 + "…")
    assert lines[3] == "3   -"
    assert fields([("a", 1), ("long", "v")]) == "a:    1\nlong: v"
    assert flatten({"quota": {"max_gpus": 2}, "used": {"gpus": 1}}) == [
        ("quota.max_gpus", 2),
        ("used.gpus", 1),
    ]


def test_run_rows_accept_mlflow_and_flat_shapes():
    mlflow_shaped = {
        "info": {"run_id": "abc", "run_name": "lr-0.1", "status": "FINISHED", "start_time": 1},
        "data": {"metrics": [{"key": "loss", "value": 0.5}], "params": []},
    }
    flat = {"run_id": "def", "name": "lr-0.2", "status": "RUNNING", "start_time": 2, "metrics": {"loss": 0.7}}
    assert metrics_of(mlflow_shaped) == ["loss"]
    assert run_row(mlflow_shaped, ["loss", "acc"]) == [
        "abc",
        "lr-0.1",
        "FINISHED",
        "1970-01-01 00:00:00",
        0.5,
        None,
    ]
    assert run_row(flat, ["loss"]) == ["def", "lr-0.2", "RUNNING", "1970-01-01 00:00:00", 0.7]


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "--project", "p", "--image", "i", "--memory", "8X", "--", "true"],
        ["submit", "--project", "p", "--image", "i", "--time", "soon", "--", "true"],
        ["submit", "--project", "p", "--image", "i", "--cpu", "lots", "--", "true"],
        ["submit", "--project", "p", "--image", "i", "--gpus", "-1", "--", "true"],
        ["submit", "--project", "p", "--image", "i", "--env", "NOEQUALS", "--", "true"],
        ["submit", "--project", "p", "--image", "i"],
        ["submit", "--image", "i", "--", "true"],
        ["status", "abc"],
        ["status", "0"],
        ["logs", "1", "--tail", "0"],
        ["cancel"],
        ["rerun", "x"],
        ["runs"],
        ["quota"],
        ["jobs", "--limit", "0"],
        ["projects", "--status", "sleeping"],
        ["frobnicate"],
        ["login", "--url", "ftp://portal", "--token", "t"],
        ["login", "--url", "http://portal", "--token", " "],
    ],
)
def test_usage_errors_exit_2_with_one_line(args, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("taller: error: ")


@pytest.mark.parametrize(
    "args",
    [
        ["projects"],
        ["submit", "-p", "p", "-i", "i", "--", "true"],
        ["jobs"],
        ["status", "1"],
        ["quota", "-p", "p"],
    ],
)
def test_not_logged_in_exits_1_with_one_line(args, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("TALLER_URL", raising=False)
    monkeypatch.delenv("TALLER_TOKEN", raising=False)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert (
        result.stderr
        == "taller: error: not logged in: run `taller login` or set TALLER_URL and TALLER_TOKEN\n"
    )


def test_help_and_no_arguments_exit_0(tmp_path):
    for args in ([], ["--help"], ["submit", "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0
        assert "Usage:" in result.stdout


def test_finish_exits_with_the_jobs_result():
    finish({"id": 7, "status": "succeeded"}, as_json=False)
    with pytest.raises(TallerError, match=r"^job 7 failed \(exit code 3\): OOMKilled$"):
        finish({"id": 7, "status": "failed", "exit_code": 3, "status_reason": "OOMKilled"}, as_json=False)
    with pytest.raises(TallerError, match=r"^job 8 cancelled: no reason given$"):
        finish({"id": 8, "status": "cancelled", "status_reason": ""}, as_json=False)
