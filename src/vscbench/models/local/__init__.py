"""Local Hugging Face models in this process (transformers/torch): loading, chat
templates and batched generation. Steering lives apart, in
:mod:`vscbench.models.steering`; a backend only carries the steering it was given."""
