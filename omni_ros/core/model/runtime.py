"""Parts of the model run by ONNX Runtime, and where each part runs (placement).

A compressed checkpoint (``omni-ros compress``) carries, besides the config and the torch
weights of what stays in torch, an ONNX graph (float or int8) per sensor encoder and for the
camera's object head. :class:`OnnxModule` stands in for the torch module it replaces - same
inputs (a dict of tensors, or one tensor), same outputs (a dict of tensors) - so the model,
the pipeline and evaluation run unchanged. Each graph runs on the execution provider its
modality is placed on (``cpu``, ``cuda[:N]``, ``openvino``) with its own thread count; torch
modules take a torch device (``cpu``, ``cuda[:N]``). A placement that is not available here is a
:class:`PlacementError` naming what is, unless ``fallback`` (then the CPU, said in the returned
notes).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field, make_dataclass

import torch
from torch import nn

from ..config import ConfigError, param
from .modalities import sensors

DEVICE = re.compile(r"^(cpu|openvino|cuda(:\d+)?)$")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "openvino": "OpenVINOExecutionProvider"}


class PlacementError(ConfigError):
    """A modality is placed on a device or execution provider this machine does not have."""


def _check_devices(self) -> None:
    for m in sensors():
        d = getattr(self, m.name)
        if not DEVICE.match(d):
            raise ConfigError(f"parameter 'placement.device.{m.name}': {d!r} is not one of cpu, "
                              "cuda, cuda:N, openvino")


Devices = make_dataclass("Devices", [
    (m.name, str, param("cpu", f"{m.name}: where its encoder runs: cpu, cuda[:N] (torch or ONNX "
                        "Runtime's CUDA provider), openvino (ONNX Runtime's OpenVINO provider; "
                        "a compressed checkpoint only)")) for m in sensors()],
    namespace={"__module__": __name__, "check": _check_devices,
               "__doc__": "Where each modality's encoder runs (the camera's object head with it)."})
Threads = make_dataclass("Threads", [
    (m.name, int, param(1, f"{m.name}: ONNX Runtime intra-op threads of its graph", min=1,
                        max=64)) for m in sensors()],
    namespace={"__module__": __name__, "__doc__": "ONNX Runtime threads per modality."})


@dataclass
class PlacementConfig:
    device: Devices = field(default_factory=Devices)
    threads: Threads = field(default_factory=Threads)
    fallback: bool = param(False, "run a modality placed on a device this machine lacks on the "
                           "CPU (logged) instead of refusing to configure")


def export_onnx(module: nn.Module, example, input_names: list[str] | None,
                output_names: list[str]) -> bytes:
    """ONNX graph (opset 17, batch dimension dynamic) of ``module`` called with ``example``:
    a dict of tensors (its keys become the input names) or one tensor (``input_names`` has its
    one name); the outputs are ``module``'s dict outputs in ``output_names`` order."""
    names = list(example) if isinstance(example, dict) else list(input_names)

    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = module

        def forward(self, *args):
            x = dict(zip(names, args)) if isinstance(example, dict) else args[0]
            out = self.inner(x)
            return tuple(out[k] for k in output_names)

    args = tuple(example[n] for n in names) if isinstance(example, dict) else (example,)
    buf = io.BytesIO()
    axes = {n: {0: "batch"} for n in names + output_names}
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(Flat().eval(), args, buf, input_names=names, output_names=output_names,
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    return buf.getvalue()


def ort_module():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("a compressed checkpoint needs ONNX Runtime: pip install onnxruntime") \
            from None
    return onnxruntime


def providers_for(device: str) -> list:
    """ONNX Runtime providers for ``device`` (cpu, cuda[:N], openvino), best first."""
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return [PROVIDERS["cpu"]]
    opts = {"device_id": int(index)} if index else {}
    return [(PROVIDERS[kind], opts), PROVIDERS["cpu"]]


def available(device: str, onnx: bool) -> str:
    """'' when ``device`` can run here (an ONNX graph if ``onnx``, else a torch module), else
    why not."""
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return ""
    if onnx:
        have = ort_module().get_available_providers()
        if PROVIDERS[kind] not in have:
            return f"ONNX Runtime here has no {PROVIDERS[kind]} (it has {', '.join(have)})"
    if kind == "openvino" and not onnx:
        return "openvino runs ONNX graphs only: compress the checkpoint (omni-ros compress)"
    if kind == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            return "no CUDA device (torch.cuda.is_available() is False)"
        if index and int(index) >= n:
            return f"cuda:{index} does not exist ({n} CUDA device(s))"
    return ""


class OnnxModule(nn.Module):
    """An ONNX graph in place of a torch module: inputs a dict of tensors (or one tensor),
    outputs a dict of CPU tensors, as the module it replaces."""

    def __init__(self, graph: bytes, output_names: list[str], device: str = "cpu",
                 threads: int = 1):
        super().__init__()
        ort = ort_module()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.graph_bytes = len(graph)
        self.device = device
        self.session = ort.InferenceSession(graph, opts, providers=providers_for(device))
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = list(output_names)

    def forward(self, inputs) -> dict:
        if isinstance(inputs, torch.Tensor):
            inputs = {self.input_names[0]: inputs}
        feed = {n: inputs[n].detach().cpu().numpy() for n in self.input_names}
        out = self.session.run(self.output_names, feed)
        return {n: torch.from_numpy(o) for n, o in zip(self.output_names, out)}


class OnDevice(nn.Module):
    """A torch module run on another device: inputs moved there, outputs back to the CPU."""

    def __init__(self, module: nn.Module, device: str):
        super().__init__()
        self.inner, self.device = module.to(device), torch.device(device)

    def forward(self, inputs):
        if isinstance(inputs, torch.Tensor):
            return _to(self.inner(inputs.to(self.device)), "cpu")
        return _to(self.inner({k: v.to(self.device) for k, v in inputs.items()}), "cpu")


def _to(out, device):
    return {k: v.to(device) for k, v in out.items()} if isinstance(out, dict) else out.to(device)


def parts_of(model, name: str) -> list[str]:
    """The submodules that run for modality ``name``: its encoder (and the camera's object head)."""
    return ["encoders." + name] + (["object_head"] if name == "camera" and
                                   hasattr(model, "object_head") else [])


def place(model, placement: PlacementConfig | None = None,
          graphs: dict[str, dict] | None = None) -> list[str]:
    """Put each modality's parts where ``placement`` says (default: all on the CPU): a part
    with an ONNX graph in ``graphs`` ({part: {"graph": bytes, "outputs": [...]}}) becomes an
    :class:`OnnxModule` on that device's execution provider; a torch part on a device other
    than the CPU is wrapped in :class:`OnDevice`. Returns what was done, one line per modality
    that is not plain torch on the CPU. Raises :class:`PlacementError` when a device is missing
    and ``placement.fallback`` is off."""
    placement = placement or PlacementConfig()
    graphs = graphs or {}
    notes = []
    for name in model.names:
        device = getattr(placement.device, name)
        threads = getattr(placement.threads, name)
        parts = parts_of(model, name)
        onnx = any(p in graphs for p in parts)
        why = available(device, onnx)
        if why:
            if not placement.fallback:
                raise PlacementError(f"parameter 'placement.device.{name}': {device}: {why}; set "
                                     "it to cpu, or placement.fallback: true to fall back")
            notes.append(f"{name}: {device} unavailable ({why}): on the CPU")
            device = "cpu"
        for part in parts:
            if part in graphs:
                g = graphs[part]
                _set_submodule(model, part, OnnxModule(g["graph"], g["outputs"], device, threads))
            elif device != "cpu":
                _set_submodule(model, part, OnDevice(model.get_submodule(part), device))
        if device != "cpu" or onnx:
            notes.append(f"{name}: {'ONNX Runtime' if onnx else 'torch'} on {device}"
                         + (f", {threads} thread(s)" if onnx else ""))
    return notes


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    if isinstance(owner, nn.ModuleDict):
        owner[leaf] = module
    else:
        setattr(owner, leaf, module)
