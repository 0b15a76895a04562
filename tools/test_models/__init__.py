"""Small ONNX test models and their PyTorch references (test/fixtures/onnx/). Run as
`python3 -m tools.test_models.make_test_models` from the repository root."""
