#!/usr/bin/python3
"""Builds the tiny random-weight ONNX components under test/fixtures/onnx/ that the model-layer tests load.

Each fixture is one component folder (model.onnx, sometimes model.onnx_data) plus reference.json: fixed
inputs and the outputs PyTorch computes for them, so the tests check onnxruntime-through-our-wrappers
against torch. The variants mirror what real exporters (optimum, diffusers' convert script, community
exports) produce: input_ids int32 or int64, timestep float32 [batch] / int64 [batch] / float32 scalar,
UNet weights in external data, a float16 UNet, and VAE encoders emitting latent_sample or
latent_parameters (mean and log-variance concatenated on the channel axis, as optimum exports it).

The graphs are architecturally faithful in their interfaces only; their insides are a few small layers so
every file stays a few KB. Run from the repository root:

    OMP_WAIT_POLICY=PASSIVE nice -n 10 /usr/bin/python3 -m tools.test_models.make_test_models

Needs Debian's python3-torch (1.13) and python3-onnx (1.12); exports at opset 17. Deterministic: the same
seeds give the same weights, inputs and references on every run.
"""
import json
import math
import os
import shutil
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from torch import nn  # noqa: E402

OPSET = 17
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "onnx")

VOCAB = 64  # token ids 0..63; the highest id (63) plays CLIP's end-of-text token
SEQ = 8  # fixed sequence length, like CLIP's 77 positions
WIDTH = 16  # text hidden size = the UNet's cross-attention dim
LATENT = 4  # latent channels, as in SD
CH = 8  # UNet / VAE inner channels


class TinyTextEncoder(nn.Module):
    """CLIP-shaped: input_ids [B, SEQ] -> last_hidden_state [B, SEQ, WIDTH], pooler_output [B, WIDTH]."""

    def __init__(self):
        super().__init__()
        self.token_embedding = nn.Embedding(VOCAB, WIDTH)
        self.position_embedding = nn.Parameter(torch.randn(SEQ, WIDTH) * 0.1)
        self.ln = nn.LayerNorm(WIDTH)
        self.fc1 = nn.Linear(WIDTH, 2 * WIDTH)
        self.fc2 = nn.Linear(2 * WIDTH, WIDTH)
        self.final_ln = nn.LayerNorm(WIDTH)

    def forward(self, input_ids):
        ids = input_ids.to(torch.int64)
        x = self.token_embedding(ids) + self.position_embedding
        x = x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln(x))))
        last = self.final_ln(x)
        # CLIP pools the hidden state at the end-of-text token, the position of the highest id.
        eos = ids.argmax(dim=-1)
        pooled = last[torch.arange(last.shape[0]), eos]
        return last, pooled


class TinyUNet(nn.Module):
    """UNet-shaped: sample [B,4,H,W], timestep, encoder_hidden_states [B,SEQ,WIDTH] -> out_sample [B,4,H,W].

    The timestep is cast to float and reshaped to [-1, 1], so a scalar and a [B] timestep both broadcast.
    """

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT, CH, 3, padding=1)
        self.time_proj = nn.Linear(CH, CH)
        self.norm = nn.GroupNorm(2, CH)
        self.to_q = nn.Linear(CH, CH, bias=False)
        self.to_k = nn.Linear(WIDTH, CH, bias=False)
        self.to_v = nn.Linear(WIDTH, CH, bias=False)
        self.to_out = nn.Linear(CH, CH)
        self.conv_out = nn.Conv2d(CH, LATENT, 3, padding=1)
        half = CH // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half))

    def forward(self, sample, timestep, encoder_hidden_states):
        t = timestep.to(torch.float32).reshape(-1, 1) * self.freqs
        temb = self.time_proj(torch.cat([torch.sin(t), torch.cos(t)], dim=-1))
        h = self.conv_in(sample) + temb[:, :, None, None]
        b, c, hh, ww = h.shape
        q = self.to_q(self.norm(h).flatten(2).transpose(1, 2))
        k = self.to_k(encoder_hidden_states)
        v = self.to_v(encoder_hidden_states)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(CH), dim=-1)
        h = h + self.to_out(attn @ v).transpose(1, 2).reshape(b, c, hh, ww)
        return self.conv_out(torch.nn.functional.silu(h))


class TinyUNetWithResiduals(TinyUNet):
    """TinyUNet exported with ControlNet residual inputs: one "down" residual added to conv_in's output
    (the skip tensor) and a "mid" residual added after the attention, as diffusers adds them."""

    def forward(self, sample, timestep, encoder_hidden_states, down0, mid):
        t = timestep.to(torch.float32).reshape(-1, 1) * self.freqs
        temb = self.time_proj(torch.cat([torch.sin(t), torch.cos(t)], dim=-1))
        h = self.conv_in(sample) + temb[:, :, None, None] + down0
        b, c, hh, ww = h.shape
        q = self.to_q(self.norm(h).flatten(2).transpose(1, 2))
        k = self.to_k(encoder_hidden_states)
        v = self.to_v(encoder_hidden_states)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(CH), dim=-1)
        h = h + self.to_out(attn @ v).transpose(1, 2).reshape(b, c, hh, ww) + mid
        return self.conv_out(torch.nn.functional.silu(h))


class TinyControlNet(nn.Module):
    """ControlNetModel-shaped: sample, timestep, encoder_hidden_states, controlnet_cond [B,3,8H,8W] in 0..1,
    conditioning_scale [] -> down_block_res_sample_0 and mid_block_res_sample [B,CH,H,W], scaled."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT, CH, 3, padding=1)
        self.cond_embedding = nn.Conv2d(3, CH, 8, stride=8)
        self.to_k = nn.Linear(WIDTH, CH, bias=False)
        self.down = nn.Conv2d(CH, CH, 1)
        self.mid = nn.Conv2d(CH, CH, 1)

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale):
        t = timestep.to(torch.float32).reshape(-1, 1, 1, 1) / 1000.0
        ctx = self.to_k(encoder_hidden_states).mean(dim=1)[:, :, None, None]
        h = self.conv_in(sample) + self.cond_embedding(controlnet_cond) + t + ctx
        return self.down(h) * conditioning_scale, self.mid(torch.tanh(h)) * conditioning_scale


class HalfIO(nn.Module):
    """float16 at the graph boundary, float32 inside, as fp16 exports look to a caller."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.inner(sample.float(), timestep.float(), encoder_hidden_states.float()).half()


class TinyVAEDecoder(nn.Module):
    """latent_sample [B,4,h,w] -> sample [B,3,2h,2w]."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(LATENT, CH, 3, padding=1)
        self.conv_out = nn.Conv2d(CH, 3, 3, padding=1)

    def forward(self, latent_sample):
        h = torch.nn.functional.silu(self.conv_in(latent_sample))
        h = torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
        return self.conv_out(h)


class TinyVAEEncoder(nn.Module):
    """sample [B,3,H,W] -> latent_sample [B,4,H/2,W/2] or latent_parameters [B,8,H/2,W/2] (mean, logvar)."""

    def __init__(self, parameters):
        super().__init__()
        self.conv_in = nn.Conv2d(3, CH, 3, stride=2, padding=1)
        self.conv_out = nn.Conv2d(CH, 2 * LATENT if parameters else LATENT, 3, padding=1)

    def forward(self, sample):
        return self.conv_out(torch.nn.functional.silu(self.conv_in(sample)))


def seeded(seed, module):
    torch.manual_seed(seed)
    m = module()
    m.eval()
    return m


def round_params_to_half(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(p.half().float())


def to_json_tensor(t, dtype):
    a = t.detach().cpu().numpy()
    if dtype in ("float32", "float16"):
        values = [float(repr(np.float32(x))) for x in a.astype(np.float32).reshape(-1)]
    else:
        values = [int(x) for x in a.reshape(-1)]
    return {"dtype": dtype, "dims": list(a.shape), "data": values}


def export(module, args, path, input_names, output_names, dynamic_axes):
    torch.onnx.export(
        module,
        args,
        path,
        opset_version=OPSET,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
    )


def save_external(path, location):
    """Re-saves a model with every initializer in one external-data file, as optimum does for big UNets."""
    model = onnx.load(path)
    onnx.save_model(
        model,
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )


def weights_to_float16(path):
    """Stores every float32 initializer that float16 represents exactly as float16, behind a Cast to float32.

    Parameters were rounded to float16 before export, so this changes no value; constants such as the
    sinusoid frequencies stay float32, like the mixed graphs fp16 converters leave behind.
    """
    model = onnx.load(path)
    graph = model.graph
    casts = []
    keep = []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            a = numpy_helper.to_array(init)
            h = a.astype(np.float16)
            if np.array_equal(h.astype(np.float32), a) and a.size > 1:
                half_name = init.name + "_fp16"
                keep.append(numpy_helper.from_array(h, half_name))
                casts.append(helper.make_node("Cast", [half_name], [init.name], to=TensorProto.FLOAT))
                continue
        keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def write_fixture(name, component, description, inputs, outputs, tolerance):
    folder = os.path.join(OUT, name)
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(
            {
                "component": component,
                "description": description,
                "generator": "tools/test_models/make_test_models.py (PyTorch %s, opset %d)" % (torch.__version__, OPSET),
                "tolerance": tolerance,
                "inputs": inputs,
                "outputs": outputs,
            },
            f,
            separators=(",", ":"),
        )
        f.write("\n")


def fresh(name):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return os.path.join(folder, "model.onnx")


def token_ids():
    # Two prompts: BOS-ish id 1, a few tokens, EOS (63) then padding with EOS, as CLIP pads.
    return torch.tensor([[1, 5, 9, 63, 63, 63, 63, 63], [1, 2, 3, 4, 5, 6, 7, 63]], dtype=torch.int64)


def make_text_encoders():
    model = seeded(101, TinyTextEncoder)
    ids = token_ids()
    with torch.no_grad():
        last, pooled = model(ids)
    for dtype, torch_dtype in (("int32", torch.int32), ("int64", torch.int64)):
        name = "text_encoder_%s" % dtype
        export(
            model,
            (ids.to(torch_dtype),),
            fresh(name),
            ["input_ids"],
            ["last_hidden_state", "pooler_output"],
            {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}},
        )
        write_fixture(
            name,
            "text_encoder",
            "CLIP-shaped text encoder, input_ids %s [batch, %d]" % (dtype, SEQ),
            {"input_ids": to_json_tensor(ids, dtype)},
            {"last_hidden_state": to_json_tensor(last, "float32"), "pooler_output": to_json_tensor(pooled, "float32")},
            1e-5,
        )


def unet_inputs():
    g = torch.Generator().manual_seed(7)
    sample = torch.randn(2, LATENT, 4, 4, generator=g)
    ehs = torch.randn(2, SEQ, WIDTH, generator=g)
    return sample, ehs


UNET_AXES = {
    "sample": {0: "batch", 2: "height", 3: "width"},
    "encoder_hidden_states": {0: "batch"},
    "out_sample": {0: "batch", 2: "height", 3: "width"},
}


def make_unets():
    model = seeded(202, TinyUNet)
    sample, ehs = unet_inputs()
    names = ["sample", "timestep", "encoder_hidden_states"]
    variants = [
        # name, timestep tensor, dtype label, dynamic timestep axes, description
        ("unet_timestep_float32_batch", torch.tensor([981.0, 981.0]), "float32", {0: "batch"}, "timestep float32 [batch]"),
        ("unet_timestep_int64_batch", torch.tensor([981, 981], dtype=torch.int64), "int64", {0: "batch"}, "timestep int64 [batch]"),
        ("unet_timestep_float32_scalar", torch.tensor(981.0), "float32", None, "timestep float32 scalar []"),
        ("unet_external_data", torch.tensor([501.0, 501.0]), "float32", {0: "batch"}, "weights in model.onnx_data"),
    ]
    for name, timestep, dtype, t_axes, description in variants:
        axes = dict(UNET_AXES)
        if t_axes is not None:
            axes["timestep"] = t_axes
        path = fresh(name)
        export(model, (sample, timestep, ehs), path, names, ["out_sample"], axes)
        if name == "unet_external_data":
            save_external(path, "model.onnx_data")
        with torch.no_grad():
            out = model(sample, timestep, ehs)
        write_fixture(
            name,
            "unet",
            "UNet-shaped, %s" % description,
            {
                "sample": to_json_tensor(sample, "float32"),
                "timestep": to_json_tensor(timestep, dtype),
                "encoder_hidden_states": to_json_tensor(ehs, "float32"),
            },
            {"out_sample": to_json_tensor(out, "float32")},
            1e-5,
        )

    # float16 at the boundary and in the stored weights; computed in float32 inside.
    half_model = seeded(202, TinyUNet)
    round_params_to_half(half_model)
    wrapper = HalfIO(half_model)
    wrapper.eval()
    s16, e16, t16 = sample.half(), ehs.half(), torch.tensor([981.0, 981.0]).half()
    path = fresh("unet_float16")
    export(wrapper, (s16, t16, e16), path, names, ["out_sample"], dict(UNET_AXES, timestep={0: "batch"}))
    weights_to_float16(path)
    with torch.no_grad():
        out16 = wrapper(s16, t16, e16)
    write_fixture(
        "unet_float16",
        "unet",
        "UNet-shaped, float16 inputs, outputs and weights (float32 arithmetic inside); timestep float16 [batch]",
        {
            "sample": to_json_tensor(s16, "float16"),
            "timestep": to_json_tensor(t16, "float16"),
            "encoder_hidden_states": to_json_tensor(e16, "float16"),
        },
        {"out_sample": to_json_tensor(out16, "float16")},
        # One float16 ulp of an output near 2 is 2^-9: allow for a differently rounded last bit.
        2e-3,
    )


def make_controlnet_pair():
    """A UNet with residual inputs and a ControlNet feeding it; the references chain them as a pipeline does."""
    unet = seeded(202, TinyUNetWithResiduals)
    net = seeded(303, TinyControlNet)
    sample, ehs = unet_inputs()
    timestep = torch.tensor([981.0, 981.0])
    g = torch.Generator().manual_seed(11)
    hint = (torch.rand(2, 3, 32, 32, generator=g) > 0.8).float()
    scale = torch.tensor(0.75)
    with torch.no_grad():
        down0, mid = net(sample, timestep, ehs, hint, scale)
        out = unet(sample, timestep, ehs, down0, mid)
        zero = torch.zeros(1, CH, 1, 1)
        out_zero = unet(sample, timestep, ehs, zero, zero)
    path = fresh("controlnet_tiny")
    export(
        net,
        (sample, timestep, ehs, hint, scale),
        path,
        ["sample", "timestep", "encoder_hidden_states", "controlnet_cond", "conditioning_scale"],
        ["down_block_res_sample_0", "mid_block_res_sample"],
        {
            "sample": {0: "batch", 2: "height", 3: "width"},
            "timestep": {0: "batch"},
            "encoder_hidden_states": {0: "batch"},
            "controlnet_cond": {0: "batch", 2: "image_height", 3: "image_width"},
            "down_block_res_sample_0": {0: "batch", 2: "height", 3: "width"},
            "mid_block_res_sample": {0: "batch", 2: "height", 3: "width"},
        },
    )
    write_fixture(
        "controlnet_tiny",
        "controlnet",
        "ControlNet-shaped: one down-block residual and the mid-block residual, conditioning_scale scalar",
        {
            "sample": to_json_tensor(sample, "float32"),
            "timestep": to_json_tensor(timestep, "float32"),
            "encoder_hidden_states": to_json_tensor(ehs, "float32"),
            "controlnet_cond": to_json_tensor(hint, "float32"),
            "conditioning_scale": to_json_tensor(scale, "float32"),
        },
        {"down_block_res_sample_0": to_json_tensor(down0, "float32"), "mid_block_res_sample": to_json_tensor(mid, "float32")},
        1e-5,
    )
    residual_axes = {0: "batch", 2: "height", 3: "width"}
    path = fresh("unet_controlnet_residuals")
    export(
        unet,
        (sample, timestep, ehs, down0, mid),
        path,
        ["sample", "timestep", "encoder_hidden_states", "down_block_additional_residual_0", "mid_block_additional_residual"],
        ["out_sample"],
        dict(UNET_AXES, timestep={0: "batch"}, down_block_additional_residual_0=residual_axes, mid_block_additional_residual=residual_axes),
    )
    write_fixture(
        "unet_controlnet_residuals",
        "unet",
        "UNet-shaped with ControlNet residual inputs; outputs for the controlnet_tiny residuals and (out_sample_zero) for zero residuals",
        {
            "sample": to_json_tensor(sample, "float32"),
            "timestep": to_json_tensor(timestep, "float32"),
            "encoder_hidden_states": to_json_tensor(ehs, "float32"),
            "down_block_additional_residual_0": to_json_tensor(down0, "float32"),
            "mid_block_additional_residual": to_json_tensor(mid, "float32"),
        },
        {"out_sample": to_json_tensor(out, "float32"), "out_sample_zero": to_json_tensor(out_zero, "float32")},
        1e-5,
    )


def make_vaes():
    g = torch.Generator().manual_seed(11)
    latents = torch.randn(1, LATENT, 3, 5, generator=g)
    image = torch.rand(1, 3, 6, 10, generator=g) * 2 - 1
    dec = seeded(303, TinyVAEDecoder)
    export(
        dec,
        (latents,),
        fresh("vae_decoder"),
        ["latent_sample"],
        ["sample"],
        {"latent_sample": {0: "batch", 2: "height", 3: "width"}, "sample": {0: "batch", 2: "height", 3: "width"}},
    )
    with torch.no_grad():
        decoded = dec(latents)
    write_fixture(
        "vae_decoder",
        "vae_decoder",
        "VAE decoder, latent_sample [batch,4,h,w] -> sample [batch,3,2h,2w]",
        {"latent_sample": to_json_tensor(latents, "float32")},
        {"sample": to_json_tensor(decoded, "float32")},
        1e-5,
    )
    for name, parameters, out_name in (
        ("vae_encoder_latent_sample", False, "latent_sample"),
        ("vae_encoder_latent_parameters", True, "latent_parameters"),
    ):
        enc = seeded(404, lambda: TinyVAEEncoder(parameters))
        export(
            enc,
            (image,),
            fresh(name),
            ["sample"],
            [out_name],
            {"sample": {0: "batch", 2: "height", 3: "width"}, out_name: {0: "batch", 2: "height", 3: "width"}},
        )
        with torch.no_grad():
            encoded = enc(image)
        write_fixture(
            name,
            "vae_encoder",
            "VAE encoder, sample [batch,3,H,W] -> %s [batch,%d,H/2,W/2]" % (out_name, 2 * LATENT if parameters else LATENT),
            {"sample": to_json_tensor(image, "float32")},
            {out_name: to_json_tensor(encoded, "float32")},
            1e-5,
        )


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    for name, make in (("text_encoders", make_text_encoders), ("unets", make_unets), ("controlnet", make_controlnet_pair), ("vaes", make_vaes)):
        if not only or name in only:
            make()
    for name in sorted(os.listdir(OUT)):
        folder = os.path.join(OUT, name)
        if os.path.isdir(folder):
            sizes = ", ".join("%s %d B" % (f, os.path.getsize(os.path.join(folder, f))) for f in sorted(os.listdir(folder)))
            print("%s: %s" % (name, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
