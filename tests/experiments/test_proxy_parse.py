"""The proxy's reading of a body, without a server: integers written as text (protobuf's JSON
writes 64-bit integers so) are read as MLflow reads them, and refused where MLflow would fail."""

import pytest

from experiments import gateway, proxy_parse

LOG_METRIC = ("POST", "runs/log-metric")
LOG_BATCH = ("POST", "runs/log-batch")


def _read(key, body: dict) -> dict:
    return proxy_parse.from_json(body, gateway.request_messages()[key])


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0),
        ("007", 7),
        ("-5", -5),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_an_integer_as_text_is_read_as_the_integer(text, number):
    message = _read(LOG_METRIC, {"run_id": "r", "key": "k", "value": 1.0, "timestamp": text, "step": text})
    assert message["timestamp"] == number and message["step"] == number
    assert type(message["step"]) is int


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("9223372036854775808", "out of range"),
        ("-9223372036854775809", "out of range"),
        (" 1", "must be an integer"),
        ("1_000", "must be an integer"),
        ("+1", "must be an integer"),
        ("٣", "must be an integer"),
        ("1e3", "must be an integer"),
        ("", "must be an integer"),
    ],
)
def test_text_that_is_not_an_int64_is_refused_saying_where(text, why):
    with pytest.raises(proxy_parse.Malformed) as refused:
        _read(LOG_BATCH, {"run_id": "r", "metrics": [{"key": "k", "value": 1, "timestamp": 0, "step": text}]})
    assert why in refused.value.message and "metrics[0].step" in refused.value.message


def test_a_batch_is_rebuilt_with_proto_names_and_numbers():
    body = {
        "runId": "r",
        "metrics": [{"key": f"m{i}", "value": i, "timestamp": str(i), "step": i} for i in range(3)],
    }
    assert _read(LOG_BATCH, body) == {
        "run_id": "r",
        "metrics": [{"key": f"m{i}", "value": float(i), "timestamp": i, "step": i} for i in range(3)],
    }
