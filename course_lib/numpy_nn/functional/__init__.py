"""Pure forward/backward pairs, one topic per file: ``out, cache = *_forward(...)``,
``grads = *_backward(dout, cache)``."""

from course_lib.numpy_nn.functional.activations import (
    LeakyReLUCache,
    ReLUCache,
    SigmoidCache,
    TanhCache,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from course_lib.numpy_nn.functional.conv import (
    Conv2dCache,
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    conv_output_size,
)
from course_lib.numpy_nn.functional.linear import LinearCache, linear_backward, linear_forward
from course_lib.numpy_nn.functional.losses import cross_entropy_loss
from course_lib.numpy_nn.functional.pooling import (
    AvgPool2dCache,
    MaxPool2dCache,
    avgpool2d_backward,
    avgpool2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)

__all__ = [
    "AvgPool2dCache",
    "Conv2dCache",
    "LeakyReLUCache",
    "LinearCache",
    "MaxPool2dCache",
    "ReLUCache",
    "SigmoidCache",
    "TanhCache",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive",
    "conv_output_size",
    "cross_entropy_loss",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "linear_backward",
    "linear_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "tanh_backward",
    "tanh_forward",
]
