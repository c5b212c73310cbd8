"""Make real sparse, low-precision tensors: magnitude pruning (to a density or N:M) and integer quantization.

Everything works on numpy arrays in PyTorch/ONNX layout (see :mod:`accelsim.tensors`) and is
deterministic: ties are broken by position, never by chance.

Examples
--------
>>> import numpy as np
>>> w = np.array([[0.1, -0.9, 0.3, 0.2], [0.5, 0.05, -0.6, 0.7]])
>>> prune_nm(w, 2, 4).tolist()
[[0.0, -0.9, 0.3, 0.0], [0.0, 0.0, -0.6, 0.7]]
>>> q = quantize(w, "int4")
>>> q.values.tolist(), round(float(q.scale), 4)
([[1, -7, 2, 2], [4, 0, -5, 5]], 0.1286)
>>> bool(np.abs(dequantize(q) - w).max() <= q.scale / 2)
True
"""

from .prune import density_of, prune_global, prune_magnitude, prune_nm
from .quantize import Quantized, dequantize, quantize, sqnr_db

__all__ = ["Quantized", "density_of", "dequantize", "prune_global", "prune_magnitude", "prune_nm", "quantize",
           "sqnr_db"]
