"""The de-limiter network, loading a trained one from a weight directory and writing one."""
import io
import json
import os

import torch

from models.conv_tasnet import ARCHITECTURE, ConvTasNetSGI, build_model
from utils.errors import DelimitError

__all__ = ["ARCHITECTURE", "ConvTasNetSGI", "build_model", "load_pretrained", "load_weights",
           "model_from_summary", "require_one_gain", "save_weight_folder"]


def load_pretrained(weight_directory: str, target: str = "all", device: str = "cpu",
                    symmetries: list[str] | None = None) -> tuple[ConvTasNetSGI, dict]:
    """Load `{weight_directory}/{target}.json` (settings) and `{target}.pth` (state_dict).

    Works with the reference's own checkpoint files as well as this project's.
    `symmetries`, when given, replaces the json's `conv_tasnet_params.symmetries` (the weights
    are the same with any). Returns the model in eval mode with gradients off, and the json
    summary as a dict.
    """
    json_path = os.path.join(weight_directory, f"{target}.json")
    pth_path = os.path.join(weight_directory, f"{target}.pth")
    for path in (json_path, pth_path):
        if not os.path.isfile(path):
            raise DelimitError(f"{path}: model file not found")
    model, summary = model_from_summary(json_path, symmetries)
    load_weights(model, torch.load(pth_path, map_location="cpu", weights_only=True))
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, summary


def require_one_gain(model, where):
    """Raise DelimitError for a model with a gain per band (gain_crossovers_hz), where a tool
    works on one gain curve (`where` names the weight folder)."""
    if model.n_gains != 1:
        raise DelimitError(f"{where}: a model with {model.n_gains} gain bands; this tool works "
                           "on models with one gain")


def model_from_summary(json_path: str, symmetries: list[str] | None = None):
    """(an untrained model built as the summary json says, the summary as a dict)."""
    try:
        with open(json_path) as f:
            summary = json.load(f)
        args = summary["args"]
        architecture = args["model_loss_params"]["architecture"]
        conv_tasnet_params = args["conv_tasnet_params"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DelimitError(f"{json_path}: not a de-limiter summary ({err!r})") from err
    if architecture != ARCHITECTURE:
        raise DelimitError(f"{json_path}: architecture {architecture!r} is not supported, "
                           f"only {ARCHITECTURE!r}")
    nb_channels = args.get("data_params", {}).get("nb_channels", 2)
    if symmetries is not None:
        conv_tasnet_params = dict(conv_tasnet_params, symmetries=symmetries)
    try:
        model = build_model(conv_tasnet_params, nb_channels=nb_channels)
    except (ValueError, TypeError) as err:
        raise DelimitError(f"{json_path}: {err}") from err
    return model, summary


def load_weights(model, state_dict):
    # Checkpoints saved from a DDP-wrapped model carry a "module." prefix.
    model.load_state_dict({k.removeprefix("module."): v for k, v in state_dict.items()})


def save_weight_folder(output, state_dict, summary):
    """Write a weight folder that load_pretrained reads: `{output}/all.pth` (state_dict) and
    `{output}/all.json` (the dict summary); on failure neither is left behind."""
    from models.fetch_reference import write_weight_folder

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    write_weight_folder(output, buffer.getvalue(), summary)
