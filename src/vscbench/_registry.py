"""inspect_ai entry point: importing this registers ``vscbench/image_centric`` and
``vscbench/text_centric``."""

from vscbench.tasks import image_centric, text_centric

__all__ = ["image_centric", "text_centric"]
