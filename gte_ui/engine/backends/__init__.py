"""Inference backends, one module per engine, each registering itself with :mod:`.registry`.

Importing this package imports every built-in engine, so the registry is complete whichever
module a caller imports first.
"""

from gte_ui.engine.backends import onnx_export, openvino_int8, pytorch  # noqa: F401 - they register themselves
