"""Tessera's shared, light package: the gRPC stubs (tessera.v1, generated), the registry layout,
tile geometry and the client library. It imports no ONNX Runtime and no torch."""
