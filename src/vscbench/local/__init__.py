"""Local vision-language models (transformers/torch): batched generation and steering."""
