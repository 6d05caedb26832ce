"""Convert an upstream xumx-sliCQ-V2 realtime checkpoint into a
:class:`mobile_core.model.cdae.MaskNet`.

Upstream layout (``Unmix.state_dict()``; ``xumx_slicq_v2.pth`` holds it raw, the training
``xumx_slicq_v2.chkpnt`` wraps it as ``{"state_dict": ..., "optimizer": ..., ...}``), per block
``b`` (low to high frequency) and upstream target ``t`` (bass, vocals, other, drums):

===========================================  ==================================================
upstream key                                 ours (``s`` = our index of the same stem)
===========================================  ==================================================
``sliced_umx.{b}.input_mean``  (= -mean)     ``blocks.{b}.input_mean`` = **minus** upstream
``sliced_umx.{b}.input_scale`` (= 1/std)     ``blocks.{b}.input_scale`` = upstream (multiplier)
``sliced_umx.{b}.cdaes.{t}.0.weight``        rows ``s*h1:(s+1)*h1`` of ``blocks.{b}.stem.weight``
``sliced_umx.{b}.cdaes.{t}.1.*`` (BN)        rows ``s*h1:(s+1)*h1`` of ``blocks.{b}.stem_bn.*``
``sliced_umx.{b}.cdaes.{t}.3.weight``        ``blocks.{b}.targets.{s}.conv.weight``
``sliced_umx.{b}.cdaes.{t}.4.*`` (BN)        ``blocks.{b}.targets.{s}.bn1.*``
``sliced_umx.{b}.cdaes.{t}.6.weight``        ``blocks.{b}.targets.{s}.deconv.weight``
``sliced_umx.{b}.cdaes.{t}.7.*`` (BN)        ``blocks.{b}.targets.{s}.bn2.*``
``sliced_umx.{b}.cdaes.{t}.9.weight/.bias``  ``blocks.{b}.targets.{s}.out.weight/.bias``
===========================================  ==================================================

(Sequential indices 2, 5, 8 are ReLU and 10 is the sigmoid: no tensors.) The merged ``stem_bn``
keeps one ``num_batches_tracked``: the largest of the four (they are equal after normal training;
the count only matters for BatchNorm with ``momentum=None``). Every tensor is copied bit for bit
(float tensors as float32); the only arithmetic is the exact negation of ``input_mean``.

Upstream's offline (non-realtime) checkpoint has the same keys and shapes but a non-causal first
convolution; nothing in the state dict tells them apart. If ``xumx_slicq_v2.json`` lies next to the
checkpoint (upstream ships one), :func:`check_upstream_json` refuses ``"realtime": false`` and a
transform that is not the chosen configuration's.

CLI: ``demix-convert-upstream IN.pth OUT [--config xumx-rt]`` (entry point
``export.convert_upstream:main``) writes OUT in the project's model file format
(:func:`mobile_core.model.model_file.save_model`), loadable with :func:`mobile_core.load_model`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from mobile_core.cli.guard import OneLineParser, console_main, error_line, say
from mobile_core.contract.files import same_file
from mobile_core.errors import DemixError, ModelFileError
from mobile_core.model.cdae import STEMS, CDAEConfig, MaskNet

__all__ = [
    "UPSTREAM_TARGETS",
    "ModelFileError",
    "check_upstream_json",
    "convert_state_dict",
    "load_upstream_checkpoint",
    "main",
    "upstream_shapes",
]

#: Upstream's target order (index ``t`` of ``cdaes.{t}``).
UPSTREAM_TARGETS: tuple[str, ...] = ("bass", "vocals", "other", "drums")

_PREFIX = "sliced_umx."
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_LFS_MAGIC = b"version https://git-lfs"


def upstream_shapes(nb_bins: int, nb_t_bins: int, cfg: CDAEConfig) -> dict[str, tuple[int, ...]]:
    """Expected upstream tensor shapes of one block, keyed by the suffix after ``sliced_umx.{b}.``.

    Args:
        nb_bins, nb_t_bins: ``F_b`` and ``T_b`` of the block.
        cfg: network sizes.
    """
    kf = cfg.freq_kernel(nb_bins)
    h1, h2, c, k2 = cfg.hidden1, cfg.hidden2, cfg.nb_channels, cfg.time_kernel2
    shapes: dict[str, tuple[int, ...]] = {"input_mean": (nb_bins,), "input_scale": (nb_bins,)}
    for t in range(cfg.nb_targets):
        p = f"cdaes.{t}."
        shapes[p + "0.weight"] = (h1, c, kf, nb_t_bins)
        shapes[p + "3.weight"] = (h2, h1, kf, k2)
        shapes[p + "6.weight"] = (h2, h1, kf, k2)  # ConvTranspose2d: [in, out, kh, kw]
        shapes[p + "9.weight"] = (h1, c, kf, nb_t_bins)
        shapes[p + "9.bias"] = (c,)
        for idx, n in (("1", h1), ("4", h2), ("7", h1)):
            for k in _BN_KEYS:
                shapes[f"{p}{idx}.{k}"] = () if k == "num_batches_tracked" else (n,)
    return shapes


def _strip_prefix(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop a common wrapper prefix (``module.``, ``_orig_mod.``, ...) before ``sliced_umx.``."""
    prefixes = {k[: k.find(_PREFIX)] for k in sd if _PREFIX in k}
    if len(prefixes) == 1:
        (prefix,) = prefixes
        if prefix and all(k.startswith(prefix) for k in sd):
            return {k[len(prefix):]: v for k, v in sd.items()}
    return dict(sd)


def _count_blocks(sd: Mapping[str, Tensor]) -> int:
    found = set()
    for key in sd:
        if key.startswith(_PREFIX):
            head = key[len(_PREFIX):].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    if found and found != set(range(max(found) + 1)):
        missing = sorted(set(range(max(found) + 1)) - found)
        raise ModelFileError(f"checkpoint block indices are not contiguous: missing {missing[:5]}")
    return len(found)


def _fetch(
    sd: Mapping[str, Tensor], key: str, shape: tuple[int, ...], where: str
) -> Tensor:
    if key not in sd:
        raise ModelFileError(f"checkpoint lacks {key} ({where})")
    value = sd[key]
    if not isinstance(value, Tensor):
        raise ModelFileError(f"checkpoint entry {key} is a {type(value).__name__}, not a tensor")
    if tuple(value.shape) != shape:
        raise ModelFileError(
            f"checkpoint tensor {key} has shape {tuple(value.shape)}, expected {shape} ({where})"
        )
    return value.detach().to(torch.float32) if value.is_floating_point() else value.detach()


def convert_state_dict(
    upstream_sd: Mapping[str, Tensor],
    block_shapes: Sequence[tuple[int, int]],
    cdae_cfg: CDAEConfig | None = None,
) -> dict[str, Tensor]:
    """Map an upstream ``Unmix`` state dict onto a :class:`MaskNet` state dict (see module doc).

    Args:
        upstream_sd: upstream keys (a common wrapper prefix is dropped).
        block_shapes: ``[(F_b, T_b)]`` of the configuration's transform, low to high frequency.
        cdae_cfg: network sizes (default: upstream's).

    Raises:
        ModelFileError: wrong number of blocks, a missing, unexpected or mis-shaped tensor.
    """
    cfg = cdae_cfg or CDAEConfig()
    if cfg.nb_targets != len(UPSTREAM_TARGETS) or set(STEMS) != set(UPSTREAM_TARGETS):
        raise ValueError("the converter maps exactly the four upstream targets")
    sd = _strip_prefix(upstream_sd)
    n_blocks = _count_blocks(sd)
    if n_blocks != len(block_shapes):
        raise ModelFileError(
            f"checkpoint has {n_blocks} blocks (sliced_umx.0 ... sliced_umx.{n_blocks - 1}), but "
            f"the configuration's transform has {len(block_shapes)} blocks"
        )
    # our target s <- upstream target t
    order = [UPSTREAM_TARGETS.index(stem) for stem in STEMS]
    used: set[str] = set()
    out: dict[str, Tensor] = {}
    for b, (nb_bins, nb_t_bins) in enumerate(block_shapes):
        where = (f"block {b}: F_b={nb_bins}, T_b={nb_t_bins}, "
                 f"freq kernel {cfg.freq_kernel(nb_bins)}")
        expected = upstream_shapes(nb_bins, nb_t_bins, cfg)
        up = {}
        for suffix, shape in expected.items():
            key = f"{_PREFIX}{b}.{suffix}"
            up[suffix] = _fetch(sd, key, shape, where)
            used.add(key)
        ours = f"blocks.{b}."
        out[ours + "input_mean"] = -up["input_mean"]
        out[ours + "input_scale"] = up["input_scale"].clone()
        out[ours + "stem.weight"] = torch.cat([up[f"cdaes.{t}.0.weight"] for t in order])
        for k in _BN_KEYS:
            parts = [up[f"cdaes.{t}.1.{k}"] for t in order]
            merged = torch.stack(parts).max() if k == "num_batches_tracked" else torch.cat(parts)
            out[ours + "stem_bn." + k] = merged
        for s, t in enumerate(order):
            src, dst = f"cdaes.{t}.", f"{ours}targets.{s}."
            out[dst + "conv.weight"] = up[src + "3.weight"].clone()
            out[dst + "deconv.weight"] = up[src + "6.weight"].clone()
            out[dst + "out.weight"] = up[src + "9.weight"].clone()
            out[dst + "out.bias"] = up[src + "9.bias"].clone()
            for k in _BN_KEYS:
                out[dst + "bn1." + k] = up[src + "4." + k].clone()
                out[dst + "bn2." + k] = up[src + "7." + k].clone()
    unexpected = sorted(set(sd) - used)
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (" ..." if len(unexpected) > 5 else "")
        raise ModelFileError(
            f"checkpoint has {len(unexpected)} tensors that are not part of the realtime CDAE "
            f"(an LSTM or other variant?): {shown}"
        )
    _check_against_module(out, block_shapes, cfg)
    return out


def _check_against_module(
    sd: Mapping[str, Tensor], block_shapes: Sequence[tuple[int, int]], cfg: CDAEConfig
) -> None:
    """Internal consistency: keys and shapes equal a (shape-only) MaskNet's state dict."""
    with torch.device("meta"):
        ref = MaskNet(block_shapes, cfg).state_dict()
    if set(ref) != set(sd):
        diff = sorted(set(ref) ^ set(sd))[:5]
        raise AssertionError(f"converter produced keys that differ from MaskNet's: {diff}")
    for k, v in ref.items():
        if tuple(v.shape) != tuple(sd[k].shape):
            raise AssertionError(f"converter produced {k} of shape {tuple(sd[k].shape)}, "
                                 f"MaskNet has {tuple(v.shape)}")


def load_upstream_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Read an upstream ``.pth`` (raw state dict) or ``.chkpnt`` (``{"state_dict": ...}``)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(len(_LFS_MAGIC))
    except OSError as e:
        raise ModelFileError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    if head == _LFS_MAGIC:
        raise ModelFileError(
            f"{path} is a Git LFS pointer, not the weights; fetch the file itself (git lfs pull)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - weights_only: any failure means "not readable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFileError(f"{path} is not a readable PyTorch checkpoint: "
                             f"{first[:160]}") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise ModelFileError(f"{path} does not hold a state dict")
    return dict(obj)


def check_upstream_json(json_path: str | Path, config_name: str) -> None:
    """Refuse an upstream ``xumx_slicq_v2.json`` that is not realtime or not ``config_name``'s."""
    from mobile_core.transform.config import transform_config

    try:
        args = json.loads(Path(json_path).read_text())["args"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"cannot read upstream settings {json_path}: {e}") from None
    if not args.get("realtime", False):
        raise ModelFileError(
            f"{json_path} describes an offline (non-causal) model; "
            "only realtime checkpoints convert"
        )
    tc = transform_config(config_name)
    theirs = (args.get("fscale"), args.get("fbins"), args.get("fmin"), args.get("sample_rate"))
    if (
        theirs[0] != tc.scale
        or theirs[1] != tc.bins
        or not isinstance(theirs[2], int | float)
        or not math.isclose(theirs[2], tc.fmin, rel_tol=1e-9)
        or (theirs[3] is not None and not math.isclose(theirs[3], tc.sample_rate))
    ):
        raise ModelFileError(
            f"{json_path} was trained with scale={theirs[0]}, bins={theirs[1]}, fmin={theirs[2]}, "
            f"but configuration {config_name!r} is scale={tc.scale}, bins={tc.bins}, "
            f"fmin={tc.fmin}"
        )


def _block_shapes_for(config_name: str) -> list[tuple[int, int]]:
    from mobile_core.transform.slicqt import SliCQT

    t = SliCQT.from_config(config_name)
    return list(zip(t.block_channels, t.block_lengths, strict=True))


def check_weights(state_dict: Mapping[str, torch.Tensor], source: object) -> None:
    """Refuse NaN or infinite weights and negative BatchNorm variances (ModelFileError)."""
    for name, value in state_dict.items():
        if not torch.is_tensor(value) or not value.is_floating_point():
            continue
        if not bool(torch.isfinite(value).all()):
            raise ModelFileError(f"{source}: weight {name} holds NaN or infinite values; "
                                 f"the checkpoint is damaged")
        if name.endswith("running_var") and bool((value < 0).any()):
            raise ModelFileError(f"{source}: BatchNorm variance {name} is negative; the "
                                 f"checkpoint is damaged")


@console_main("demix-convert-upstream", error_status=2)
def main(argv: Sequence[str] | None = None) -> int:
    """``demix-convert-upstream IN.pth OUT [--config xumx-rt]``; returns the exit status."""
    parser = OneLineParser(
        prog="demix-convert-upstream",
        description="Convert an upstream xumx-sliCQ-V2 realtime checkpoint into a model file.",
    )
    parser.add_argument("checkpoint", type=Path, help="upstream xumx_slicq_v2.pth (or .chkpnt)")
    parser.add_argument("output", type=Path, help="model file to write")
    parser.add_argument("--config", default="xumx-rt", help="configuration name (xumx-rt)")
    args = parser.parse_args(argv)
    if args.output.is_dir():
        parser.error(f"the output {args.output} is a folder; give the model file's path")
    if same_file(args.checkpoint, args.output):
        parser.error(f"the output {args.output} is the input checkpoint; refusing to write "
                     f"over it")
    try:
        upstream = load_upstream_checkpoint(args.checkpoint)
        sidecar = args.checkpoint.with_name("xumx_slicq_v2.json")
        if sidecar.is_file():
            check_upstream_json(sidecar, args.config)
        try:
            block_shapes = _block_shapes_for(args.config)
        except ValueError as e:  # unknown configuration name
            raise ModelFileError(str(e)) from None
        # upstream's CDAE sizes are fixed in its code, the same for every checkpoint it trains
        cdae_cfg = CDAEConfig()
        mask_sd = convert_state_dict(upstream, block_shapes, cdae_cfg)
        check_weights(mask_sd, args.checkpoint)
        from mobile_core.model.config import SeparatorConfig
        from mobile_core.model.model_file import save_model
        from mobile_core.model.separator import Separator
        from mobile_core.transform.config import transform_config

        sep = Separator(SeparatorConfig(args.config, transform_config(args.config), cdae_cfg))
        sep.masknet.load_state_dict(mask_sd, strict=True)
        source = f"upstream checkpoint {args.checkpoint.name}"
        mid = save_model(sep, args.output, info={"source": source})
    except DemixError as e:
        print(error_line("demix-convert-upstream", e), file=sys.stderr)
        return 2
    say(f"wrote {args.output}: a demix model file (model id {mid}); run it with "
        f"demix -m {args.output}", "demix-convert-upstream")
    return 0


if __name__ == "__main__":
    sys.exit(main())
