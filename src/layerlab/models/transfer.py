"""Transfer learning's three moves on any zoo classifier: freeze, replace the head, unfreeze the last block.

Course unit: 전이학습 (transfer learning, 3주차 실습: 전이학습모델 VGG로 분류하기). A net trained on
one task already computes useful features (edges, textures, parts of animals). We keep them:

    model = get_model("vgg16", num_classes=2)
    load_pretrained(model, IMAGENET_URLS["vgg16"], skip_mismatched_head=True)
    replace_head(model, 2, dropout=0.5)        # a fresh last Linear: 2 classes, dropout before it
    freeze_features(model)                     # only the classifier learns
    unfreeze(last_block(model))                # optional: let the last conv block adapt too

Frozen means `requires_grad=False` (no gradient, so no optimizer step) AND, for BatchNorm layers,
running statistics that stop moving (momentum 0): the frozen part computes the same function
after fine-tuning as before it.
"""

from __future__ import annotations

from torch import nn

from layerlab.errors import LayerlabError

BN_MOMENTUM = 0.1  # PyTorch's default, restored by `unfreeze`


def head_name(model: nn.Module) -> str:
    """Name of the model's last Linear layer, the classification head (e.g. "classifier.6", "fc")."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise LayerlabError(f"{type(model).__name__} has no Linear layer to use as a classification head")
    return names[-1]


def replace_head(model: nn.Module, num_classes: int, *, dropout: float = 0.5) -> nn.Linear:
    """Put a freshly initialised Linear(in_features → num_classes) where the last Linear was.

    Dropout (rate `dropout`) goes right before it: an existing Dropout in that place gets the new
    rate (VGG's classifier.5, so the state_dict keys stay torchvision's); otherwise the head
    becomes Sequential(Dropout, Linear) and its keys gain a ".1".
    """
    if num_classes < 1:
        raise LayerlabError(f"num_classes must be >= 1, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise LayerlabError(f"dropout must be in [0, 1), got {dropout}")
    name = head_name(model)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = parent.get_submodule(child)
    new = nn.Linear(old.in_features, num_classes).to(old.weight.device)
    siblings = list(parent.named_children())
    index = [n for n, _ in siblings].index(child)
    before = siblings[index - 1][1] if isinstance(parent, nn.Sequential) and index > 0 else None
    if isinstance(before, nn.Dropout):
        before.p = dropout
        setattr(parent, child, new)
    else:
        setattr(parent, child, nn.Sequential(nn.Dropout(dropout), new))
    return new


def freeze(module: nn.Module) -> int:
    """Stop `module` from learning: no gradients, BatchNorm statistics fixed. Returns the parameters frozen."""
    return _set_learning(module, False)


def unfreeze(module: nn.Module) -> int:
    """Let `module` learn again (BatchNorm momentum back to 0.1). Returns the parameters unfrozen."""
    return _set_learning(module, True)


def _set_learning(module: nn.Module, learn: bool) -> int:
    count = 0
    for p in module.parameters():
        p.requires_grad_(learn)
        count += p.numel()
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = BN_MOMENTUM if learn else 0.0  # 0: running mean/var = 1·old + 0·batch, unchanged
    return count


def freeze_features(model: nn.Module) -> int:
    """Freeze the feature extractor: everything except `classifier` (VGG, cifar-cnn) or the head (ResNet's fc)."""
    trainable = getattr(model, "classifier", None)
    if not isinstance(trainable, nn.Module):
        trainable = model.get_submodule(head_name(model))
    count = freeze(model)
    return count - unfreeze(trainable)


def last_block(model: nn.Module) -> nn.Module:
    """The last stage of the feature extractor, sharing the model's parameters.

    ResNet: layer4. Models whose `features` is a Sequential of blocks (cifar-cnn): the last block.
    VGG's flat `features`: the layers after the second-to-last max-pool (conv5_1..conv5_3 + pool).
    """
    if isinstance(getattr(model, "layer4", None), nn.Module):
        return model.layer4
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential) or len(features) == 0:
        raise LayerlabError(f"{type(model).__name__} has neither `layer4` nor a `features` Sequential")
    children = list(features.children())
    if all(isinstance(c, nn.Sequential) for c in children):
        return children[-1]
    pools = [i for i, c in enumerate(children) if isinstance(c, nn.MaxPool2d)]
    start = pools[-2] + 1 if len(pools) >= 2 else 0
    return nn.Sequential(*children[start:])
