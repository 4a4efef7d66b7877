"""The model zoo: one file per family, registered by name.

The modules are imported here by name, in a visible list; importing one registers its models.
"""

from __future__ import annotations

from layerlab.models import alexnet  # noqa: F401
from layerlab.models import autoencoder  # noqa: F401
from layerlab.models import cifar_cnn  # noqa: F401
from layerlab.models import cifar_fast  # noqa: F401
from layerlab.models import crnn  # noqa: F401
from layerlab.models import cubic  # noqa: F401
from layerlab.models import detector  # noqa: F401
from layerlab.models import fcn  # noqa: F401
from layerlab.models import forecast  # noqa: F401
from layerlab.models import gan  # noqa: F401
from layerlab.models import lenet  # noqa: F401
from layerlab.models import mlp  # noqa: F401
from layerlab.models import resnet  # noqa: F401
from layerlab.models import rnn  # noqa: F401
from layerlab.models import seq2seq  # noqa: F401
from layerlab.models import unet  # noqa: F401
from layerlab.models import vae  # noqa: F401
from layerlab.models import vgg  # noqa: F401
from layerlab.models.registry import MODELS, example_input, get_model, list_models, register_model

__all__ = ["MODELS", "example_input", "get_model", "list_models", "register_model"]
