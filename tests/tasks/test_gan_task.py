"""The GAN step: D's update, then G's; noise from the loader's generator; the DCGAN's shapes and init."""

from __future__ import annotations

import pytest
import torch

from layerlab.data import TensorData
from layerlab.engine import fit
from layerlab.models import get_model
from layerlab.models.gan import Project, Score, dcgan_init_
from layerlab.errors import LayerlabError
from layerlab.tasks.gan import GanStep, generate, r1_penalty, real_and_noise, tile


def _tiny_gan(seed: int = 0):
    return dcgan_init_(get_model("dcgan", latent=8, width=4), torch.Generator().manual_seed(seed))


def _batch(n: int = 6, latent: int = 8, generator: torch.Generator | None = None):
    g = generator if generator is not None else torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return real_and_noise(latent)(images, torch.zeros(n), g)


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_the_step_updates_the_discriminator_then_the_generator():
    gan = _tiny_gan()
    step = GanStep(gan.generator, gan.discriminator)
    start = {"generator": _flat(gan.generator), "discriminator": _flat(gan.discriminator)}
    seen: list[tuple[str, bool, bool]] = []        # (optimizer that stepped, G changed so far, D changed so far)

    def record(name: str):
        def hook(optimizer, args, kwargs) -> None:
            seen.append((name, not torch.equal(_flat(gan.generator), start["generator"]),
                         not torch.equal(_flat(gan.discriminator), start["discriminator"])))
        return hook

    for name, optimizer in step.optimizers.items():
        optimizer.register_step_post_hook(record(name))
    values = step.train(_batch())
    # after D's step only D has moved; after G's step both have
    assert seen == [("discriminator", False, True), ("generator", True, True)]
    assert set(values) == {"d_loss", "g_loss", "count", "d_real", "d_fake"} and values["count"] == 6
    assert not values["d_loss"].requires_grad and 0 < float(values["d_real"]) < 1


def test_the_generator_step_leaves_the_discriminator_as_its_own_step_left_it():
    gan = _tiny_gan()
    step = GanStep(gan.generator, gan.discriminator)
    after_d: list[torch.Tensor] = []
    step.optimizers["discriminator"].register_step_post_hook(lambda *_: after_d.append(_flat(gan.discriminator)))
    grads: list[list[torch.Tensor]] = []
    step.optimizers["discriminator"].register_step_post_hook(
        lambda *_: grads.append([p.grad.clone() for p in gan.discriminator.parameters()]))
    step.train(_batch())
    assert torch.equal(after_d[0], _flat(gan.discriminator))
    # G's backward went through D but spent nothing on D's weight gradients: they are as D's step left them
    assert all(torch.equal(g, p.grad) for g, p in zip(grads[0], gan.discriminator.parameters()))
    assert all(p.requires_grad for p in gan.discriminator.parameters())


def test_the_losses_are_bce_with_logits_as_written_by_hand():
    gan = _tiny_gan()
    real, z = _batch()
    with torch.no_grad():
        d_real, d_fake = torch.sigmoid(gan.discriminator(real)), torch.sigmoid(gan.discriminator(gan.generator(z)))
    expected_d = -(d_real.log().mean() + (1 - d_fake).log().mean())      # -log D(x) - log(1 - D(G(z)))
    values = GanStep(gan.generator, gan.discriminator).train((real, z))
    assert float(values["d_loss"]) == pytest.approx(float(expected_d), rel=1e-5)
    assert float(values["d_real"]) == pytest.approx(float(d_real.mean()), rel=1e-6)
    assert float(values["d_fake"]) == pytest.approx(float(d_fake.mean()), rel=1e-6)


def test_real_label_smooths_only_the_discriminators_target_for_real_images():
    gan = _tiny_gan()
    real, z = _batch()
    with torch.no_grad():
        d_real, d_fake = torch.sigmoid(gan.discriminator(real)), torch.sigmoid(gan.discriminator(gan.generator(z)))
    # D: real -> 0.9 (cross-entropy against a soft target), fake -> 0
    expected_d = -(0.9 * d_real.log() + 0.1 * (1 - d_real).log()).mean() - (1 - d_fake).log().mean()
    step = GanStep(gan.generator, gan.discriminator, real_label=0.9)
    after_d: list[torch.Tensor] = []                       # D(G(z)) through the updated D, before G moves

    def look(*_) -> None:
        with torch.no_grad():
            after_d.append(torch.sigmoid(gan.discriminator(gan.generator(z))))

    step.optimizers["discriminator"].register_step_post_hook(look)
    values = step.train((real, z))
    assert float(values["d_loss"]) == pytest.approx(float(expected_d), rel=1e-5)
    assert float(values["g_loss"]) == pytest.approx(float(-after_d[0].log().mean()), rel=1e-5)   # G's target: 1


@pytest.mark.usefixtures("native_bf16")
def test_amp_runs_both_networks_in_bf16_and_the_losses_in_float32():
    gan, plain = _tiny_gan(), _tiny_gan()
    real, z = _batch()
    seen: list[torch.dtype] = []
    for network in (gan.generator, gan.discriminator):
        network.net[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        d_real = torch.sigmoid(gan.discriminator(real).float())
        d_fake = torch.sigmoid(gan.discriminator(gan.generator(z)).float())
    expected_d = -(d_real.log().mean() + (1 - d_fake).log().mean())      # the same BCE, on bf16 logits
    seen.clear()
    values = GanStep(gan.generator, gan.discriminator, amp=True).train((real, z))
    plain_values = GanStep(plain.generator, plain.discriminator).train((real, z))
    # G once, D on real, D on fake (its step), D on fake again (G's step): every first layer in bf16
    assert seen == [torch.bfloat16] * 4
    assert values["d_loss"].dtype == values["g_loss"].dtype == torch.float32
    assert float(values["d_loss"]) == pytest.approx(float(expected_d), rel=1e-5)
    # bf16 keeps ~3 significant digits: the loss is fp32's to 1%, not bit for bit
    assert float(values["d_loss"]) == pytest.approx(float(plain_values["d_loss"]), rel=1e-2)
    assert float(values["d_loss"]) != float(plain_values["d_loss"])
    assert not torch.equal(_flat(gan.generator), _flat(_tiny_gan().generator))       # G stepped


def test_noise_comes_from_the_loader_not_the_global_random_state():
    images = TensorData(torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8), torch.zeros(40, dtype=torch.long))
    runs = []
    for _ in range(2):
        gan = _tiny_gan()
        before = torch.get_rng_state()
        history = fit(GanStep(gan.generator, gan.discriminator), images, epochs=2, batch_size=16,
                      transform=real_and_noise(8), device="cpu", progress=False, seed=5)
        assert torch.equal(torch.get_rng_state(), before)               # training drew nothing from the global RNG
        runs.append((history.series("train_g_loss"), _flat(gan.generator)))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert set(history.last) >= {"train_d_loss", "train_g_loss", "train_d_real", "train_d_fake"}


def test_real_and_noise_scales_pixels_to_tanh_range_and_draws_z():
    real, z = real_and_noise(5)(torch.tensor([0, 255, 51], dtype=torch.uint8).view(3, 1, 1, 1), torch.zeros(3),
                                torch.Generator().manual_seed(0))
    assert real.flatten().tolist() == pytest.approx([-1.0, 1.0, -0.6])
    assert z.shape == (3, 5) and torch.equal(z, torch.randn(3, 5, generator=torch.Generator().manual_seed(0)))


def test_dcgan_shapes_range_and_paper_initialisation():
    gan = dcgan_init_(get_model("dcgan"), torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = gan(torch.randn(3, 100))
    assert images.shape == (3, 1, 28, 28) and float(images.abs().max()) <= 1.0
    assert gan.discriminator(images).shape == (3,)
    big = gan.generator.net[0].weight.detach()                           # 627,200 draws of N(0, 0.02)
    assert abs(float(big.mean())) < 1e-4 and float(big.std()) == pytest.approx(0.02, rel=0.01)
    assert float(gan.generator.net[1].weight.detach().mean()) == pytest.approx(1.0, abs=0.01)
    assert float(gan.generator.net[1].bias.detach().abs().max()) == 0.0
    again = dcgan_init_(get_model("dcgan"), torch.Generator().manual_seed(0))
    assert torch.equal(_flat(gan), _flat(again))                        # the seed decides every weight


def test_g_extra_and_d_extra_add_3x3_layers_with_the_parameters_counted_by_hand():
    plain, deeper = get_model("dcgan-discriminator", width=32), get_model("dcgan-discriminator", width=32, d_extra=1)
    # one conv 32->32, 3x3, no bias (batch norm follows) + the norm's scale and shift: 32·32·9 + 2·32
    assert _count(deeper) - _count(plain) == 32 * 32 * 9 + 2 * 32 == 9_280
    assert [type(m).__name__ for m in deeper.net[2:5]] == ["Conv2d", "BatchNorm2d", "LeakyReLU"]
    x = torch.randn(2, 1, 28, 28)
    assert deeper(x).shape == (2,)
    assert deeper.net[:3](x).shape == (2, 32, 14, 14)                    # the extra conv keeps the 14x14 size
    assert _count(get_model("dcgan", d_extra=2)) == 898_304 + 2 * (64 * 64 * 9 + 2 * 64)
    with pytest.raises(LayerlabError, match="d_extra counts extra discriminator layers"):
        get_model("dcgan", d_extra=-1)
    # G's extra layer works on the 7x7 maps of twice the width: 64·64·9 + 2·64 at width 32
    plain, deeper = get_model("dcgan-generator", width=32), get_model("dcgan-generator", width=32, g_extra=1)
    assert _count(deeper) - _count(plain) == 64 * 64 * 9 + 2 * 64 == 36_992
    z = torch.randn(2, 100)
    assert deeper.net[:6](z.view(2, 100, 1, 1)).shape == (2, 64, 7, 7) and deeper(z).shape == (2, 1, 28, 28)
    with pytest.raises(LayerlabError, match="g_extra counts extra generator layers"):
        get_model("dcgan", g_extra=-1)
    # g_fine's layer works on the 14x14 maps of the width, just before the pixels: 32·32·9 + 2·32
    fine = get_model("dcgan-generator", width=32, g_fine=1)
    assert _count(fine) - _count(plain) == 32 * 32 * 9 + 2 * 32 == 9_280
    assert [type(m).__name__ for m in fine.net[6:10]] == ["Conv2d", "BatchNorm2d", "ReLU", "ConvTranspose2d"]
    assert fine.net[:9](z.view(2, 100, 1, 1)).shape == (2, 32, 14, 14) and fine(z).shape == (2, 1, 28, 28)
    with pytest.raises(LayerlabError, match="g_fine counts extra generator layers"):
        get_model("dcgan", g_fine=-1)


def test_g_full_draws_the_pixels_from_maps_at_28x28_with_the_parameters_counted_by_hand():
    plain, full = get_model("dcgan-generator", width=32), get_model("dcgan-generator", width=32, g_full=16)
    # the transposed conv 32 -> 1 (4·4·32 = 512) becomes 32 -> 16 (4·4·32·16), BN 16 (2·16), a 3x3 conv 16 -> 1
    assert _count(full) - _count(plain) == 4 * 4 * 32 * 16 + 2 * 16 + 3 * 3 * 16 - 512 == 7_856
    assert [type(m).__name__ for m in full.net[-5:]] == ["ConvTranspose2d", "BatchNorm2d", "ReLU", "Conv2d", "Tanh"]
    z = torch.randn(2, 100)
    assert full.net[:-2](z.view(2, 100, 1, 1)).shape == (2, 16, 28, 28) and full(z).shape == (2, 1, 28, 28)
    assert float(full(z).detach().abs().max()) <= 1.0
    with pytest.raises(LayerlabError, match="g_full counts the generator's 28x28 maps"):
        get_model("dcgan", g_full=-1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_g_s_first_and_d_s_last_layer_compute_their_convolution_as_a_product(channels_last):
    """Project (a transposed conv on 1x1 noise) and Score (a conv whose kernel covers its input) give the
    convolution's outputs and gradients to float rounding; on other inputs they are the convolution."""
    g = torch.Generator().manual_seed(0)
    project, score = Project(6, 5, kernel_size=7, bias=False), Score(5, 1, kernel_size=7, bias=False)
    torch.nn.init.normal_(project.weight, generator=g), torch.nn.init.normal_(score.weight, generator=g)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for layer, plain, shape in ((project, torch.nn.ConvTranspose2d(6, 5, 7, bias=False), (4, 6, 1, 1)),
                                (score, torch.nn.Conv2d(5, 1, 7, bias=False), (4, 5, 7, 7))):
        plain.load_state_dict(layer.state_dict())                           # the same weight, the same key
        layer, plain = layer.to(memory_format=fmt), plain.to(memory_format=fmt)
        x = torch.randn(shape, generator=g).contiguous(memory_format=fmt)
        grads = []
        for module in (layer, plain):
            x_ = x.clone().requires_grad_(True)
            out = module(x_)
            (out * torch.arange(out.numel()).view(out.shape)).sum().backward()   # a gradient that differs per output
            grads.append((out.detach(), x_.grad, module.weight.grad.clone()))
        for mine, torchs in zip(*grads):
            assert mine.shape == torchs.shape and torch.allclose(mine, torchs, rtol=1e-5, atol=1e-4)
    wide = torch.randn(2, 6, 2, 2, generator=g)                            # not 1x1: the transposed conv itself
    assert torch.equal(project(wide), torch.nn.functional.conv_transpose2d(wide, project.weight))
    big = torch.randn(2, 5, 9, 9, generator=g)                             # larger than the kernel: the conv itself
    assert torch.equal(score(big), torch.nn.functional.conv2d(big, score.weight)) and score(big).shape == (2, 1, 3, 3)
    gan = get_model("dcgan", width=4, latent=8)
    assert type(gan.generator.net[0]) is Project and type(gan.discriminator.net[-1]) is Score
    assert isinstance(gan.generator.net[0], torch.nn.ConvTranspose2d) and isinstance(gan.discriminator.net[-1], torch.nn.Conv2d)


def test_the_average_follows_g_by_a_decay_that_ramps_up_to_ema():
    gan = dcgan_init_(get_model("dcgan", latent=8, width=4, average=True), torch.Generator().manual_seed(0))
    assert gan.sampler is gan.average and not any(p.requires_grad for p in gan.average.parameters())
    for ema in (0.995, 0.1):
        step = GanStep(gan.generator, gan.discriminator, average=gan.average, ema=ema)
        assert torch.equal(_flat(gan.average), _flat(gan.generator))          # it starts where G is
        assert set(step.models) == {"generator", "discriminator", "average"}  # so checkpoints keep it
        for n in (1, 2):
            before = _flat(gan.average)
            step.train(_batch())
            decay = min(ema, (1 + n) / (10 + n))                               # G's n-th step: 2/11, 3/12 or 0.1
            expected = decay * before + (1 - decay) * _flat(gan.generator)
            assert torch.allclose(_flat(gan.average), expected, atol=1e-7)
        assert not torch.equal(_flat(gan.average), _flat(gan.generator))
    plain = get_model("dcgan", latent=8, width=4)
    assert plain.average is None and plain.sampler is plain.generator
    with pytest.raises(LayerlabError, match="needs a decay in"):
        GanStep(gan.generator, gan.discriminator, average=gan.average, ema=1.0)


def _shifted(n: int, generator: torch.Generator) -> torch.Tensor:
    return 3 + 2 * torch.randn(n, 8, generator=generator)                     # a game's own prior: N(3, 4 I)


@pytest.mark.parametrize("noise", [None, _shifted])
def test_end_epoch_measures_the_averages_batch_norm_statistics_on_the_average_itself(noise):
    gan = dcgan_init_(get_model("dcgan", latent=8, width=4, average=True), torch.Generator().manual_seed(0))
    step = GanStep(gan.generator, gan.discriminator, average=gan.average, noise=noise)
    for _ in range(3):
        step.train(_batch())
    g_stats = gan.generator.net[1].running_mean.clone()
    step.end_epoch()
    draws = torch.Generator().manual_seed(0)                                   # 20 batches of 500, as end_epoch draws
    z = torch.cat([(noise or (lambda n, g: torch.randn(n, 8, generator=g)))(500, draws) for _ in range(20)])
    with torch.no_grad():
        first = gan.average.net[0](z.view(-1, 8, 1, 1))                       # the first conv's maps (10000, 8, 7, 7)
    assert torch.allclose(gan.average.net[1].running_mean, first.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(gan.average.net[1].running_var, first.var(dim=(0, 2, 3)), rtol=1e-3)
    assert torch.equal(gan.generator.net[1].running_mean, g_stats)             # G's own statistics untouched
    assert gan.average.training and gan.average.net[1].momentum == 0.1         # mode and momentum as they were


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_generate_returns_pixels_in_0_1_and_restores_the_mode():
    gan = _tiny_gan()
    gan.generator.train()
    images = generate(gan.generator, torch.randn(5, 8), batch_size=2)
    assert images.shape == (5, 1, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert gan.generator.training


def test_tile_lays_images_out_in_rows_with_a_grey_border():
    canvas = tile(torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.full((1, 2, 2), 0.2)]), columns=2, border=1)
    assert canvas.tolist() == [[128, 128, 128, 128, 128, 128, 128],
                               [128, 0, 0, 128, 255, 255, 128],
                               [128, 0, 0, 128, 255, 255, 128],
                               [128, 128, 128, 128, 128, 128, 128],
                               [128, 51, 51, 128, 128, 128, 128],     # 0.2 · 255 = 51; the empty slot stays grey
                               [128, 51, 51, 128, 128, 128, 128],
                               [128, 128, 128, 128, 128, 128, 128]]


def test_samples_from_a_run_that_does_not_generate_is_a_one_line_error(tmp_path):
    from layerlab.engine import RunDir
    from layerlab.engine.card import ModelCard
    from layerlab.engine.checkpoint import save_weights
    from layerlab.engine.deploy import PredictOptions, predict_files
    from layerlab.errors import LayerlabError

    run = RunDir.create(tmp_path, "mnist-mlp", {})
    save_weights(get_model("mlp", sizes=(4, 3)), run.weights_path())
    ModelCard(model="mlp", overrides={"sizes": [4, 3]}, input_shape=(4,)).save(run.path / "model.json")
    with pytest.raises(LayerlabError, match=r"--samples draws new images from a generative run .*'classification'"):
        predict_files(run.path, [], PredictOptions(samples=3))
    with pytest.raises(LayerlabError, match="--samples must be a positive number of images, got -1"):
        PredictOptions(samples=-1)


class _LinearCritic(torch.nn.Module):
    """D(x) = w·x + b: its gradient with respect to every image is w, so the R1 penalty is ½‖w‖² exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(28 * 28, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1)).flatten()


def test_r1_penalty_is_half_the_squared_input_gradient_and_reaches_the_weights():
    critic = _LinearCritic()
    real = torch.rand(5, 1, 28, 28, requires_grad=True)
    penalty = r1_penalty(critic(real), real)
    w = critic.linear.weight
    assert float(penalty.detach()) == pytest.approx(float(w.detach().pow(2).sum() / 2), rel=1e-6)
    penalty.backward()                                     # d(½‖w‖²)/dw = w: through the gradient of a gradient
    assert torch.allclose(w.grad, w.detach(), rtol=1e-6, atol=1e-9)
    assert critic.linear.bias.grad is None or float(critic.linear.bias.grad.abs().sum()) == 0


def test_r1_is_paid_every_r1_every_steps_with_its_weight_scaled_up():
    gan = _tiny_gan()
    critic = _LinearCritic()
    step = GanStep(gan.generator, critic, r1=0.5, r1_every=2)
    gradients: list[torch.Tensor] = []
    step.optimizers["discriminator"].register_step_pre_hook(lambda *_: gradients.append(critic.linear.weight.grad.clone()))
    g = torch.Generator().manual_seed(5)
    for i in range(4):
        real, z = _batch(generator=g)
        w = critic.linear.weight.detach().clone()
        with torch.no_grad():                              # the BCE gradient of D by hand: sigmoid(logit) - target
            real_logits, fake_logits = critic(real), critic(gan.generator(z))
        bce = ((torch.sigmoid(real_logits) - 1)[:, None] * real.flatten(1)).mean(0) + \
            (torch.sigmoid(fake_logits)[:, None] * gan.generator(z).detach().flatten(1)).mean(0)
        step.train((real, z))
        extra = gradients[-1] - bce.view_as(w)
        # D's steps 0 and 2 pay γ·r1_every·w (the gradient of γ·2·½‖w‖²); steps 1 and 3 nothing
        expected = 0.5 * 2 * w if i % 2 == 0 else torch.zeros_like(w)
        assert torch.allclose(extra, expected, atol=1e-5), f"D step {i}"


def test_r1_refuses_a_negative_weight_or_a_period_below_one():
    gan = _tiny_gan()
    for bad in ({"r1": -1.0}, {"r1": 1.0, "r1_every": 0}):
        with pytest.raises(LayerlabError, match="R1 penalty needs a weight >= 0 and a period >= 1"):
            GanStep(gan.generator, gan.discriminator, **bad)


def test_adam_betas_outside_0_1_are_a_one_line_error():
    gan = _tiny_gan()
    for betas in ((0.5, 1.5), (1.0, 0.999), (-0.1, 0.99)):
        with pytest.raises(LayerlabError, match=r"Adam's betas \(beta1, beta2\) must each be in \[0, 1\), got"):
            GanStep(gan.generator, gan.discriminator, betas=betas)
    assert GanStep(gan.generator, gan.discriminator, betas=(0.0, 0.99)).optimizers["generator"].defaults["betas"] == (0.0, 0.99)
    whole = GanStep(gan.generator, gan.discriminator, betas=(0, 0.99)).optimizers["discriminator"].defaults["betas"]   # an int
    assert whole == (0.0, 0.99) and all(type(beta) is float for beta in whole)


def test_r1_steps_follow_the_optimizer_so_a_restored_step_penalises_the_same_steps():
    """What a resume restores is the networks and the optimizers: a step rebuilt from them after 3 steps
    (not a multiple of r1_every) must go on exactly as the uninterrupted one."""
    g = torch.Generator().manual_seed(7)
    batches = [_batch(generator=g) for _ in range(6)]
    whole_gan = _tiny_gan()
    whole = GanStep(whole_gan.generator, whole_gan.discriminator, r1=1.0, r1_every=4)
    for batch in batches:
        whole.train(batch)
    first_gan = _tiny_gan()
    first = GanStep(first_gan.generator, first_gan.discriminator, r1=1.0, r1_every=4)
    for batch in batches[:3]:
        first.train(batch)
    resumed_gan = _tiny_gan(seed=1)                          # other weights: everything must come from the states
    resumed = GanStep(resumed_gan.generator, resumed_gan.discriminator, r1=1.0, r1_every=4)
    resumed_gan.load_state_dict(first_gan.state_dict())
    for name, optimizer in resumed.optimizers.items():
        optimizer.load_state_dict(first.optimizers[name].state_dict())
    for batch in batches[3:]:
        resumed.train(batch)
    assert torch.equal(_flat(resumed_gan), _flat(whole_gan))
    plain_gan = _tiny_gan()                                  # and the penalty did change the game
    plain = GanStep(plain_gan.generator, plain_gan.discriminator)
    for batch in batches:
        plain.train(batch)
    assert not torch.equal(_flat(plain_gan), _flat(whole_gan))
