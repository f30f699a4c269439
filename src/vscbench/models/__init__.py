"""Models: from a ``--model`` name to an async function that answers a conversation.

* :mod:`~vscbench.models.names`: the model-name grammar (which backend a name means);
* :mod:`~vscbench.models.registry`: the backends, each with its optional dependency,
  and :func:`make_generate`;
* :mod:`~vscbench.models.errors`: how a backend classifies its failures (fatal, or one
  pair's error);
* backends: :mod:`~vscbench.models.openai_api` (OpenAI-compatible servers through the
  openai SDK), :mod:`~vscbench.models.inspect_api` (every inspect_ai provider) and
  :mod:`~vscbench.models.local` (Hugging Face models in this process);
* :mod:`~vscbench.models.steering`: activation steering of local models.
"""

from vscbench.models.registry import make_generate

__all__ = ["make_generate"]
