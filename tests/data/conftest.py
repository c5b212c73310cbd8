# onnx_export_common.py holds the helpers of the offline ONNX fixture builders (onnx_exports/build.py,
# onnx_zoo/build_*.py), which need PyTorch and run in their own venvs; the test suite never imports it
# (pytest runs with --doctest-modules, which would otherwise import every .py file under tests/).
collect_ignore = ["onnx_export_common.py"]
