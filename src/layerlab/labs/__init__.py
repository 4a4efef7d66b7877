"""Labs: one file per course exercise, one registered function per file.

The modules are imported here by name, in a visible list; importing one registers its lab.
"""

from layerlab.labs import (  # noqa: F401
    alexnet_norm, autoencoder, char_rnn, cifar_cnn, classify_images, crnn_captcha, cubic_sin, dcgan, degradation,
    fcn_shapes, house_prices, lenet_mnist, mnist_mlp, rcnn, resnet_cifar, seq2seq_attention, sppnet, stock_rnn,
    transfer_vgg16, unet_membrane, vae,
    vanishing_gradients,
)
from layerlab.labs.base import LABS, LabConfig, LabResult, register_lab
from layerlab.labs.runner import list_runs, make_config, resume_lab, run_lab

__all__ = ["LABS", "LabConfig", "LabResult", "list_labs", "list_runs", "make_config", "register_lab", "resume_lab",
           "run_lab"]


def list_labs() -> list[str]:
    return LABS.names()
