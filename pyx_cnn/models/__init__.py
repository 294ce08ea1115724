"""Ready-made networks: call a function, get a new, built :class:`~pyx_cnn.NeuralNetwork`.

The architectures of the literature, channels last, their layouts those of
torchvision (so that weights and results can be compared with PyTorch's):

- :func:`lenet5`: LeNet-5 with ReLU and max pooling (a chain of layers);
- :func:`resnet`: ResNet-18 and ResNet-34 (BasicBlock; the CIFAR stem for small
  images);
- :func:`mobilenet_v2`: MobileNetV2 (inverted residual blocks, depthwise
  convolutions, ReLU6);
- :func:`unet`: a U-Net classifying every pixel (encoder, decoder, skip
  connections).

Each takes ``seed`` and ``dtype`` keywords (default ``dtype="float32"``) and returns
an untrained network whose initial weights come from `seed`. The classifiers end in
``Dense(num_classes, activation="softmax")`` and train on integer labels with softmax
cross-entropy; the U-Net ends in a softmax over the classes of each pixel.

The networks of ``pyx-cnn train`` are here too: :func:`digits_network`,
:func:`dataset_network` and :func:`model_network` (:data:`MODELS`).
"""
from ._train_networks import (MIN_IMAGE_SIDE, MODEL_DTYPE, MODEL_MIN_SIDE, MODELS,
                              dataset_network, digits_network, model_network)
from .lenet import lenet5
from .mobilenet import make_divisible, mobilenet_v2
from .resnet import resnet
from .unet import unet

__all__ = ["lenet5", "resnet", "mobilenet_v2", "unet", "make_divisible",
           "digits_network", "dataset_network", "model_network", "MODELS",
           "MIN_IMAGE_SIDE", "MODEL_MIN_SIDE", "MODEL_DTYPE"]
