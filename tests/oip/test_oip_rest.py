"""The Open Inference Protocol over REST, driven by tritonclient.http against a real server:
health, metadata, infer with image bytes (binary and JSON), an FP32 tensor, a batch of 4, the
classification extension (logits bit-identical to Node's), and every kind of bad input."""

from __future__ import annotations

import base64
import http.client
import json
import struct

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import MAX_BODY, Expected, Server, assert_bit_equal


@pytest.fixture
def client(server: Server) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(server.http)


def image_input(files: list, *, binary: bool = True) -> httpclient.InferInput:
    data = [f.read_bytes() for f in files]
    if not binary:  # JSON carries BYTES as text: images go base64-encoded
        data = [base64.b64encode(d) for d in data]
    tensor = httpclient.InferInput("image", [len(data)], "BYTES")
    tensor.set_data_from_numpy(np.array(data, dtype=np.object_), binary_data=binary)
    return tensor


def outputs(*, binary: bool = True, class_count: int = 0) -> list[httpclient.InferRequestedOutput]:
    return [
        httpclient.InferRequestedOutput("logits", binary_data=binary, class_count=class_count),
        httpclient.InferRequestedOutput("label", binary_data=binary),
    ]


def raw_post(server: Server, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """A request no client library would send: (status, JSON answer)."""
    conn = http.client.HTTPConnection(server.http, timeout=30)
    conn.request("POST", path, body=body, headers=headers)
    res = conn.getresponse()
    answer = json.loads(res.read())
    conn.close()
    return res.status, answer


def assert_still_serving(
    client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    assert client.is_server_ready()
    result = client.infer("faces", [image_input([expected[0].file])], outputs=outputs())
    assert_bit_equal(result.as_numpy("logits")[0], expected[0].logits)


def test_health_and_metadata(client: httpclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("faces")
    assert client.is_model_ready("faces", "1")
    server = client.get_server_metadata()
    assert server["name"] == "chori-torch"
    assert set(server["extensions"]) == {"binary_tensor_data", "classification"}
    model = client.get_model_metadata("faces")
    assert model["versions"] == ["1"]
    assert model["inputs"] == [
        {"name": "image", "datatype": "BYTES", "shape": [-1]},
        {"name": "tensor", "datatype": "FP32", "shape": [-1, 3, 56, 56]},
    ]
    assert model["outputs"] == [
        {"name": "logits", "datatype": "FP32", "shape": [-1, 2]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ]
    assert client.get_model_metadata("faces", "1") == model
    with pytest.raises(InferenceServerException, match="CHORI_MODEL_VERSION_NOT_FOUND"):
        client.get_model_metadata("faces", "7")
    with pytest.raises(InferenceServerException, match="CHORI_MODEL_NOT_FOUND"):
        client.get_model_metadata("nope")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_a_batch_of_4_images_gives_nodes_logits(
    client: httpclient.InferenceServerClient, expected: list[Expected], binary: bool
) -> None:
    result = client.infer(
        "faces",
        [image_input([e.file for e in expected], binary=binary)],
        outputs=outputs(binary=binary),
    )
    assert_bit_equal(result.as_numpy("logits"), np.stack([e.logits for e in expected]))
    assert [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")] == [
        e.label for e in expected
    ]
    response = result.get_response()
    assert response["model_name"] == "faces" and response["model_version"] == "1"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_an_fp32_tensor_skips_the_image_pipeline(
    client: httpclient.InferenceServerClient, expected: list[Expected], binary: bool
) -> None:
    batch = np.stack([e.tensor for e in expected[:2]])
    tensor = httpclient.InferInput("tensor", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    result = client.infer("faces", [tensor], outputs=outputs(binary=binary))
    assert_bit_equal(result.as_numpy("logits"), np.stack([e.logits for e in expected[:2]]))


def test_the_classification_extension(
    client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    result = client.infer(
        "faces", [image_input([e.file for e in expected])], outputs=outputs(class_count=2)
    )
    rows = result.as_numpy("logits")
    assert rows.shape == (4, 2)
    labels = ["Not face", "Face"]
    for row, e in zip(rows, expected, strict=True):
        ranked = [v.decode().split(":", 2) for v in row]
        assert [int(i) for _, i, _ in ranked] == list(np.argsort(-e.logits, kind="stable"))
        for value, index, label in ranked:
            assert label == labels[int(index)]
            assert float(value) == pytest.approx(float(e.logits[int(index)]), abs=1e-6)


def test_the_request_id_comes_back(
    client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    result = client.infer(
        "faces", [image_input([expected[0].file])], outputs=outputs(), request_id="abc-1"
    )
    assert result.get_response()["id"] == "abc-1"


def test_wrong_datatype_and_shape(
    client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    ints = httpclient.InferInput("image", [1], "INT32")
    ints.set_data_from_numpy(np.array([1], dtype=np.int32))
    with pytest.raises(
        InferenceServerException, match='CHORI_BAD_REQUEST: input "image" must be BYTES'
    ) as err:
        client.infer("faces", [ints])
    assert err.value.status() == "400"

    small = httpclient.InferInput("tensor", [1, 3, 10, 10], "FP32")
    small.set_data_from_numpy(np.zeros((1, 3, 10, 10), dtype=np.float32))
    with pytest.raises(
        InferenceServerException, match=r"must have shape \[N, 3, 56, 56\].*not \[1, 3, 10, 10\]"
    ):
        client.infer("faces", [small])

    nested = httpclient.InferInput("image", [1, 1], "BYTES")
    nested.set_data_from_numpy(np.array([[expected[0].file.read_bytes()]], dtype=np.object_))
    with pytest.raises(InferenceServerException, match=r"must have shape \[N\]"):
        client.infer("faces", [nested])

    with pytest.raises(InferenceServerException, match='has no output "scores"'):
        client.infer(
            "faces",
            [image_input([expected[0].file])],
            outputs=[httpclient.InferRequestedOutput("scores")],
        )
    assert_still_serving(client, expected)


def test_bytes_that_are_not_an_image(
    client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    tensor = httpclient.InferInput("image", [2], "BYTES")
    tensor.set_data_from_numpy(
        np.array([expected[0].file.read_bytes(), b"not an image"], dtype=np.object_)
    )
    with pytest.raises(
        InferenceServerException, match=r'CHORI_\w+: input "image" element 1: '
    ) as err:
        client.infer("faces", [tensor])
    assert err.value.status() == "400"
    assert_still_serving(client, expected)


def binary_request(
    header: dict, binary: bytes, declared: int | None = None
) -> tuple[bytes, dict[str, str]]:
    head = json.dumps(header).encode()
    length = len(head) if declared is None else declared
    return head + binary, {"Inference-Header-Content-Length": str(length)}


def test_binary_lengths_that_lie(
    server: Server, client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    image = expected[0].file.read_bytes()
    element = struct.pack("<I", len(image)) + image
    path = "/v2/models/faces/infer"

    def header(size: int) -> dict:
        inp = {
            "name": "image",
            "datatype": "BYTES",
            "shape": [1],
            "parameters": {"binary_data_size": size},
        }
        return {"inputs": [inp]}

    body, headers = binary_request(header(len(element)), element)
    status, answer = raw_post(server, path, body, headers)
    assert status == 200, answer

    cases = {
        "the header length is past the body": binary_request(
            header(len(element)), element, declared=10**6
        ),
        "binary_data_size is past the data": binary_request(header(len(element) + 5), element),
        "binary data is left over": binary_request(header(len(element) - 10), element),
        "an element's length prefix is past its data": binary_request(
            header(len(element)), struct.pack("<I", len(image) + 100) + image
        ),
        "the header length cuts the JSON": binary_request(
            header(len(element)), element, declared=5
        ),
    }
    for case, (body, headers) in cases.items():
        status, answer = raw_post(server, path, body, headers)
        assert status == 400, case
        assert answer["error"].startswith("CHORI_BAD_REQUEST: "), (case, answer)
    assert_still_serving(client, expected)


def test_an_oversized_body(
    server: Server, client: httpclient.InferenceServerClient, expected: list[Expected]
) -> None:
    big = bytes(MAX_BODY + 1)
    body, headers = binary_request(
        {
            "inputs": [
                {
                    "name": "image",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": 4 + len(big)},
                }
            ]
        },
        struct.pack("<I", len(big)) + big,
    )
    status, answer = raw_post(server, "/v2/models/faces/infer", body, headers)
    assert status == 413
    assert answer["error"].startswith("CHORI_BODY_TOO_LARGE: ")
    assert_still_serving(client, expected)


def test_unknown_paths_answer_in_the_protocols_format(server: Server) -> None:
    conn = http.client.HTTPConnection(server.http, timeout=30)
    conn.request("GET", "/v2/models/faces/config")
    res = conn.getresponse()
    assert res.status == 404
    assert json.loads(res.read()) == {
        "error": "CHORI_NOT_FOUND: no route for GET /v2/models/faces/config"
    }
    conn.close()
