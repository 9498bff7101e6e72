"""Pure forward/backward pairs, one topic per file: ``out, cache = *_forward(...)``,
``grads = *_backward(dout, cache)``.

Each topic module lists its public names in ``__all__``; this package re-exports
them all, so ``from course_lib.numpy_nn.functional import conv2d_forward`` works
as well as ``from course_lib.numpy_nn.functional.conv import conv2d_forward``.
"""

from importlib import import_module

# The topic modules, in the order the chapters introduce them.
_TOPICS = ("conv", "pooling", "linear", "activations", "softmax", "losses", "style", "vae")

__all__: list[str] = []
for _topic in _TOPICS:
    try:
        _module = import_module(f"{__name__}.{_topic}")
    except ModuleNotFoundError as exc:  # a topic not written yet (style.py arrives with Chapter 4)
        if exc.name != f"{__name__}.{_topic}":
            raise
        continue
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
    __all__ += list(_module.__all__)
del import_module, _topic, _module, _name
