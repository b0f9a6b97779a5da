"""The Open Inference Protocol over gRPC, driven by tritonclient.grpc (and, for requests no
client library sends, the service stubs tritonclient ships) against a real server: health,
metadata, infer with image bytes (raw_input_contents and bytes_contents), an FP32 tensor, a batch
of 4, classification (logits bit-identical to Node's), bad input, loading and draining."""

from __future__ import annotations

import signal
import struct
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from conftest import MAX_BODY, Expected, Server, assert_bit_equal, start_server


@pytest.fixture
def client(server: Server) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(server.grpc)


@pytest.fixture
def stub(server: Server) -> service_pb2_grpc.GRPCInferenceServiceStub:
    channel = grpc.insecure_channel(
        server.grpc, options=[("grpc.max_send_message_length", 4 * MAX_BODY)]
    )
    return service_pb2_grpc.GRPCInferenceServiceStub(channel)


def image_input(files: list) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("image", [len(files)], "BYTES")
    tensor.set_data_from_numpy(np.array([f.read_bytes() for f in files], dtype=np.object_))
    return tensor


def outputs(class_count: int = 0) -> list[grpcclient.InferRequestedOutput]:
    return [
        grpcclient.InferRequestedOutput("logits", class_count=class_count),
        grpcclient.InferRequestedOutput("label"),
    ]


def assert_still_serving(
    client: grpcclient.InferenceServerClient, expected: list[Expected]
) -> None:
    assert client.is_server_ready()
    result = client.infer("faces", [image_input([expected[0].file])], outputs=outputs())
    assert_bit_equal(result.as_numpy("logits")[0], expected[0].logits)


def test_health_and_metadata(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("faces")
    assert client.is_model_ready("faces", "1")
    server = client.get_server_metadata(as_json=True)
    assert server["name"] == "chori-torch"
    assert server["extensions"] == ["classification"]
    model = client.get_model_metadata("faces", as_json=True)
    assert model["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in model["inputs"]] == [
        ("image", "BYTES", ["-1"]),
        ("tensor", "FP32", ["-1", "3", "56", "56"]),
    ]
    assert [(t["name"], t["datatype"], t["shape"]) for t in model["outputs"]] == [
        ("logits", "FP32", ["-1", "2"]),
        ("label", "BYTES", ["-1"]),
    ]
    with pytest.raises(InferenceServerException, match="CHORI_MODEL_VERSION_NOT_FOUND") as err:
        client.get_model_metadata("faces", "7")
    assert err.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException, match="CHORI_MODEL_NOT_FOUND"):
        client.is_model_ready("nope")


def test_a_batch_of_4_images_gives_nodes_logits(
    client: grpcclient.InferenceServerClient, expected: list[Expected]
) -> None:
    result = client.infer("faces", [image_input([e.file for e in expected])], outputs=outputs())
    assert_bit_equal(result.as_numpy("logits"), np.stack([e.logits for e in expected]))
    assert [v.decode() for v in result.as_numpy("label")] == [e.label for e in expected]
    response = result.get_response()
    assert (response.model_name, response.model_version) == ("faces", "1")


def test_bytes_contents_and_fp32_contents(
    stub: service_pb2_grpc.GRPCInferenceServiceStub, expected: list[Expected]
) -> None:
    """Typed contents instead of raw_input_contents; all outputs when none are asked for."""
    request = service_pb2.ModelInferRequest(model_name="faces", id="typed")
    image = request.inputs.add(name="image", datatype="BYTES", shape=[2])
    image.contents.bytes_contents.extend([e.file.read_bytes() for e in expected[:2]])
    response = stub.ModelInfer(request)
    assert response.id == "typed"
    assert [o.name for o in response.outputs] == ["logits", "label"]
    logits = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(2, 2)
    assert_bit_equal(logits, np.stack([e.logits for e in expected[:2]]))

    request = service_pb2.ModelInferRequest(model_name="faces")
    tensor = request.inputs.add(name="tensor", datatype="FP32", shape=[1, 3, 56, 56])
    tensor.contents.fp32_contents.extend(expected[2].tensor.ravel().tolist())
    response = stub.ModelInfer(request)
    assert_bit_equal(
        np.frombuffer(response.raw_output_contents[0], dtype=np.float32), expected[2].logits
    )


def test_an_fp32_tensor_skips_the_image_pipeline(
    client: grpcclient.InferenceServerClient, expected: list[Expected]
) -> None:
    batch = np.stack([e.tensor for e in expected])
    tensor = grpcclient.InferInput("tensor", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    result = client.infer("faces", [tensor], outputs=outputs())
    assert_bit_equal(result.as_numpy("logits"), np.stack([e.logits for e in expected]))


def test_the_classification_extension(
    client: grpcclient.InferenceServerClient, expected: list[Expected]
) -> None:
    result = client.infer(
        "faces", [image_input([e.file for e in expected])], outputs=outputs(class_count=1)
    )
    rows = result.as_numpy("logits")
    assert rows.shape == (4, 1)
    for (entry,), e in zip(rows, expected, strict=True):
        value, index, label = entry.decode().split(":", 2)
        assert (int(index), label) == (int(np.argmax(e.logits)), e.label)
        assert float(value) == pytest.approx(float(e.logits.max()), abs=1e-6)


def test_bad_input(
    client: grpcclient.InferenceServerClient,
    stub: service_pb2_grpc.GRPCInferenceServiceStub,
    expected: list[Expected],
) -> None:
    ints = grpcclient.InferInput("image", [1], "INT32")
    ints.set_data_from_numpy(np.array([1], dtype=np.int32))
    small = grpcclient.InferInput("tensor", [1, 3, 10, 10], "FP32")
    small.set_data_from_numpy(np.zeros((1, 3, 10, 10), dtype=np.float32))
    junk = grpcclient.InferInput("image", [1], "BYTES")
    junk.set_data_from_numpy(np.array([b"not an image"], dtype=np.object_))
    cases = [
        (ints, 'CHORI_BAD_REQUEST: input "image" must be BYTES'),
        (small, r"must have shape \[N, 3, 56, 56\]"),
        (junk, r'CHORI_\w+: input "image" element 0: '),
    ]
    for tensor, message in cases:
        with pytest.raises(InferenceServerException, match=message) as err:
            client.infer("faces", [tensor])
        assert err.value.status() == "StatusCode.INVALID_ARGUMENT"

    image = expected[0].file.read_bytes()
    lies = {
        "a length prefix past the data": struct.pack("<I", len(image) + 1) + image,
        "a cut length prefix": struct.pack("<I", len(image)) + image + b"\x01\x00",
    }
    for case, raw in lies.items():
        request = service_pb2.ModelInferRequest(model_name="faces", raw_input_contents=[raw])
        request.inputs.add(name="image", datatype="BYTES", shape=[1])
        with pytest.raises(grpc.RpcError) as err:
            stub.ModelInfer(request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, case
        assert err.value.details().startswith("CHORI_BAD_REQUEST: "), case

    request = service_pb2.ModelInferRequest(model_name="faces", raw_input_contents=[image, image])
    request.inputs.add(name="image", datatype="BYTES", shape=[1])
    with pytest.raises(grpc.RpcError, match="raw_input_contents has 2 entries for 1 inputs"):
        stub.ModelInfer(request)

    oversized = service_pb2.ModelInferRequest(
        model_name="faces", raw_input_contents=[bytes(MAX_BODY + 1)]
    )
    oversized.inputs.add(name="image", datatype="BYTES", shape=[1])
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelInfer(oversized)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serving(client, expected)


def test_not_ready_while_loading_and_draining() -> None:
    """ServerReady (and REST's /v2/health/ready) is false until every model is loaded, and from
    SIGTERM on; the stop is clean."""
    model = "export/model.pt"
    server = start_server(
        "--drain-delay-ms", "1500", "--model", f"b={model}", "--model", f"c={model}", wait=False
    )
    first = grpcclient.InferenceServerClient(server.grpc).is_server_ready()
    first_rest = httpclient.InferenceServerClient(server.http).is_server_ready()
    server.wait_listening()
    client = grpcclient.InferenceServerClient(server.grpc)
    rest = httpclient.InferenceServerClient(server.http)
    assert not first and not first_rest, "ready before its models loaded"
    assert client.is_server_ready() and rest.is_server_ready()
    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 1
    while client.is_server_ready():
        assert time.monotonic() < deadline, "still ready a second after SIGTERM"
        time.sleep(0.02)
    assert not rest.is_server_ready()
    assert client.is_server_live() and rest.is_server_live(), "the drain delay keeps answering"
    assert server.process.wait(timeout=30) == 0
