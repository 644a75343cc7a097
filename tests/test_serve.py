"""The inference service over real HTTP on 127.0.0.1: answers, refusals, shutdown, load test."""

import json
import socket

import httpx
import pytest
import torch

from dlopt_lab.serve import LoadResult, create_app, load_test, serve

CLASSES = [f"digit {i}" for i in range(10)]


def _model():
    torch.manual_seed(0)
    # Dropout makes a forward in training mode random: the service must run in eval mode.
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(32, 10))


@pytest.fixture
def model():
    return _model()


@pytest.fixture
def server(model):
    with serve(create_app(model, max_batch=8, class_names=CLASSES, max_body_bytes=100_000)) as handle:
        yield handle


@pytest.fixture
def client():
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c


def _good(n=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 64, generator=g)


def test_health(server, client):
    r = client.get(server.url + "/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0


def test_predictions_equal_the_models_own_outputs(server, client, model):
    x = _good(5)
    r = client.post(server.url + "/predict", json={"inputs": x.tolist()})
    assert r.status_code == 200
    body = r.json()
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)
    assert body["predictions"] == probs.argmax(dim=1).tolist()
    torch.testing.assert_close(torch.tensor(body["probabilities"]), probs, atol=1e-6, rtol=0)
    assert body["labels"] == [CLASSES[i] for i in body["predictions"]]
    # eval mode: the same request gives the same answer (dropout would make it random)
    assert client.post(server.url + "/predict", json={"inputs": x.tolist()}).json() == body


def _raw(content, ctype="application/json"):
    return dict(content=content, headers={"content-type": ctype} if ctype else {})


ROW = [0.5] * 64
BAD_REQUESTS = {
    "short row": (dict(json={"inputs": [[0.5] * 63]}), 422, "inputs[0]: List should have at least 64"),
    "long row": (dict(json={"inputs": [[0.5] * 65]}), 422, "inputs[0]: List should have at most 64"),
    "ragged batch": (dict(json={"inputs": [ROW, [0.5] * 10]}), 422, "inputs[1]: List should have at least 64"),
    "flat input": (dict(json={"inputs": [0.5, 0.5]}), 422, "inputs[0]: Input should be a valid list"),
    "string number": (dict(json={"inputs": [["0.5"] + ROW[1:]]}), 422, "inputs[0][0]: Input should be a valid number"),
    "boolean": (dict(json={"inputs": [ROW[:5] + [True] + ROW[6:]]}), 422, "inputs[0][5]: Input should be a valid number"),
    "null": (dict(json={"inputs": [ROW[:-1] + [None]]}), 422, "inputs[0][63]: Input should be a valid number"),
    "NaN": (_raw(json.dumps({"inputs": [[float("nan")] + ROW[1:]]})), 422, "inputs[0][0]: Input should be a finite number"),
    "Infinity": (_raw(b'{"inputs": [[' + b"1e999, " * 63 + b"1]]}"), 422, "inputs[0][0]: Input should be a finite number"),
    "empty batch": (dict(json={"inputs": []}), 422, "inputs: the batch is empty"),
    "oversized batch": (dict(json={"inputs": [ROW] * 9}), 422, "the batch has 9 examples, more than max_batch=8"),
    "missing field": (dict(json={"data": [ROW]}), 422, "inputs: Field required"),
    "extra field": (dict(json={"inputs": [ROW], "debug": True}), 422, "debug: unknown field"),
    "not an object": (dict(json=[ROW]), 422, "body: Input should be a valid dictionary"),
    "empty body": (_raw(b""), 422, "the body is missing"),
    "not JSON": (_raw(b"{inputs: [[1, 2"), 400, "not valid JSON"),
    "not UTF-8": (_raw(b"\xff\xfe\x00"), 400, "not valid JSON"),
    "deep nesting": (_raw(b'{"inputs": ' + b"[" * 20000 + b"]" * 20000 + b"}"), 400, "not valid JSON"),
    "text/plain": (_raw(json.dumps({"inputs": [ROW]}), "text/plain"), 415, "Content-Type must be application/json"),
    "no content type": (_raw(json.dumps({"inputs": [ROW]}), None), 415, "Content-Type must be application/json"),
    "body too large": (_raw(b" " * 100_001), 413, "larger than the limit of 100000 bytes"),
    "chunked, too large": (dict(content=iter([b" " * 60_000] * 2), headers={"content-type": "application/json"}),
                           413, "larger than the limit"),
}


@pytest.mark.parametrize("name", BAD_REQUESTS)
def test_bad_request_gets_the_chosen_4xx_and_a_clear_message(server, client, name):
    kwargs, code, message = BAD_REQUESTS[name]
    r = client.post(server.url + "/predict", **kwargs)
    assert r.status_code == code, r.text
    assert message in r.json()["detail"]


def test_a_batch_of_max_batch_is_accepted(server, client):
    r = client.post(server.url + "/predict", json={"inputs": _good(8).tolist()})
    assert r.status_code == 200 and len(r.json()["predictions"]) == 8


def test_server_still_answers_after_hostile_requests(server, client, model):
    for kwargs, _, _ in BAD_REQUESTS.values():
        assert client.post(server.url + "/predict", **kwargs).status_code < 500
    assert client.get(server.url + "/predict").status_code == 405
    assert client.get(server.url + "/nothing-here").status_code == 404
    x = _good(2, seed=7)
    r = client.post(server.url + "/predict", json={"inputs": x.tolist()})
    model.eval()
    with torch.no_grad():
        expected = torch.softmax(model(x), dim=1)
    assert r.status_code == 200
    torch.testing.assert_close(torch.tensor(r.json()["probabilities"]), expected, atol=1e-6, rtol=0)


def _refused(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_stop_really_stops(model, client):
    handle = serve(create_app(model))
    assert handle.running and client.get(handle.url + "/health").status_code == 200
    handle.stop()
    assert not handle.running and _refused(handle.port)
    with serve(create_app(model)) as handle:  # the context manager stops it too
        assert not _refused(handle.port)
    assert _refused(handle.port)


def test_load_test_counts_add_up(server):
    good, bad = {"inputs": _good(4).tolist()}, {"inputs": []}
    result = load_test(server.url + "/predict", [good, good, bad], concurrency=3, max_requests=30)
    assert isinstance(result, LoadResult)
    assert result.n_requests == 30 and result.n_ok == 20 and result.n_errors == 10
    assert result.status_counts == {200: 20, 422: 10}
    assert len(result.latencies_ms) == result.n_ok
    assert 0 < result.p50_ms <= result.p90_ms <= result.p99_ms <= max(result.latencies_ms)
    assert result.throughput == pytest.approx(20 / result.duration_s)
    assert "30 requests (10 errors)" in str(result)


def test_load_test_stops_at_its_time_limit(server):
    result = load_test(server.url + "/predict", [{"inputs": _good(1).tolist()}],
                       concurrency=2, duration_s=0.3, max_requests=1_000_000)
    assert 0 < result.n_requests < 1_000_000 and result.n_errors == 0
    assert 0.3 <= result.duration_s < 5


def test_load_test_counts_refused_connections(model):
    with serve(create_app(model)) as handle:
        url = handle.url + "/predict"
    result = load_test(url, [{"inputs": [ROW]}], concurrency=2, max_requests=6, timeout_s=2)
    assert result.n_requests == result.n_errors == 6 and result.n_ok == 0
    assert result.status_counts == {0: 6}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "8.8.8.8", "example.com", "::", ""])
def test_only_loopback_hosts_are_served(model, host):
    with pytest.raises(ValueError, match="host must be a loopback"):
        serve(create_app(model), host=host)


@pytest.mark.parametrize("url, match", [
    ("http://10.0.0.1:8000/predict", "loopback"),
    ("http://example.com/predict", "loopback"),
    ("ftp://127.0.0.1/predict", "url"),
    ("127.0.0.1:8000/predict", "url"),
])
def test_load_test_refuses_other_hosts(url, match):
    with pytest.raises(ValueError, match=match):
        load_test(url, [{"inputs": [ROW]}])


def test_load_test_bad_arguments():
    url = "http://127.0.0.1:1/predict"  # never contacted: validation comes first
    for kwargs, match in [(dict(payloads=[]), "payloads"), (dict(concurrency=0), "concurrency"),
                          (dict(max_requests=0), "max_requests"), (dict(duration_s=0), "duration_s")]:
        kwargs = {"payloads": [{"inputs": [ROW]}], **kwargs}
        with pytest.raises(ValueError, match=match):
            load_test(url, **kwargs)


def test_create_app_and_serve_bad_arguments(model):
    with pytest.raises(ValueError, match="model"):
        create_app(lambda x: x)
    with pytest.raises(ValueError, match="input_shape"):
        create_app(model, input_shape=(0,))
    with pytest.raises(ValueError, match="max_batch"):
        create_app(model, max_batch=0)
    with pytest.raises(ValueError, match="class_names must name all 10"):
        create_app(model, class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"returned shape \(10,\)"):
        create_app(torch.nn.Flatten(0), input_shape=(10,))
    with pytest.raises(ValueError, match="port"):
        serve(create_app(model), port=70000)


def test_other_input_shapes(client):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x = torch.randn(2, 1, 4, 4)
    with serve(create_app(model, input_shape=(1, 4, 4))) as handle:
        ok = client.post(handle.url + "/predict", json={"inputs": x.tolist()})
        bad = client.post(handle.url + "/predict", json={"inputs": x.reshape(2, 16).tolist()})
    with torch.no_grad():
        expected = torch.softmax(model(x), dim=1)
    torch.testing.assert_close(torch.tensor(ok.json()["probabilities"]), expected, atol=1e-6, rtol=0)
    assert bad.status_code == 422 and "inputs[0]: List should have at most 1 item" in bad.json()["detail"]
