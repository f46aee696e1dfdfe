"""Checkpoints that are never unpickled: tensors in safetensors, everything else in JSON.

Layout: ``RUN/checkpoints/step-00001234/{tensors.safetensors, state.json}``. A checkpoint is written
into a hidden temporary directory, every file fsynced, then renamed into place (atomic), so a kill
at any moment leaves either the old set of checkpoints or the old set plus a complete new one.
``state.json`` carries the sha256 of the tensors file; a checkpoint that fails it is skipped with a
warning and the previous one is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sngan.errors import CheckpointError
from sngan.files import FILE_MODE, fsync_dir, fsync_file

CKPT_DIR = "checkpoints"
TENSORS = "tensors.safetensors"
STATE = "state.json"
FORMAT = "sngan-checkpoint-v1"


def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> dict:
    """Split an optimizer state_dict into tensors (into ``tensors``) and a JSON-able rest."""
    sd = opt.state_dict()
    meta: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
    for idx, st in sd["state"].items():
        entry = {}
        for name, value in st.items():
            if torch.is_tensor(value):
                key = f"{prefix}.{idx}.{name}"
                tensors[key] = value.detach().contiguous().clone()
                entry[name] = {"tensor": key}
            else:
                entry[name] = value
        meta["state"][str(idx)] = entry
    return meta


def restore_optimizer(opt: torch.optim.Optimizer, meta: dict, tensors: dict[str, torch.Tensor]) -> None:
    state = {}
    for idx, entry in meta["state"].items():
        state[int(idx)] = {
            name: (tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v) for name, v in entry.items()
        }
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    # The checkpoint holds contiguous tensors; a channels-last parameter's moments take its layout again
    # (CUDA's fused Adam refuses moments whose strides differ from the parameter's).
    for group in opt.param_groups:
        for p in group["params"]:
            for name, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    opt.state[p][name] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def save_checkpoint(run_dir: Path, step: int, tensors: dict[str, torch.Tensor], state: dict[str, Any],
                    keep: int = 2) -> Path:
    """Atomically write checkpoint ``step`` and keep the newest ``keep`` checkpoints."""
    root = Path(run_dir) / CKPT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        save_file(tensors, str(tmp / TENSORS))
        digest = hashlib.sha256((tmp / TENSORS).read_bytes()).hexdigest()
        payload = {"format": FORMAT, "step": step, "tensors_sha256": digest, **state}
        (tmp / STATE).write_text(json.dumps(payload, indent=1, allow_nan=False))
        for name in (TENSORS, STATE):
            os.chmod(tmp / name, FILE_MODE)  # safetensors creates its file 0600; every run file is 0644
            fsync_file(tmp / name)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Completed checkpoint directories, oldest first (temporary ones ignored)."""
    root = Path(run_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load and verify one checkpoint directory; CheckpointError if it is invalid."""
    path = Path(path)
    state_file, tensor_file = path / STATE, path / TENSORS
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{state_file}: unreadable checkpoint state ({e})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{state_file}: not an sngan checkpoint (format {state.get('format')!r})"
                              if isinstance(state, dict) else f"{state_file}: not an sngan checkpoint")
    try:
        data = tensor_file.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{tensor_file}: unreadable ({e.strerror})") from None
    if hashlib.sha256(data).hexdigest() != state.get("tensors_sha256"):
        raise CheckpointError(f"{tensor_file}: checksum mismatch (corrupt or truncated)")
    try:
        tensors = load_file(str(tensor_file))
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for bad files
        raise CheckpointError(f"{tensor_file}: not a safetensors file ({e})") from None
    return tensors, state


def latest_valid_checkpoint(run_dir: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]] | None:
    """The newest checkpoint that verifies; older ones are tried (with a warning) if it fails."""
    problems = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            tensors, state = read_checkpoint(path)
        except CheckpointError as e:
            problems.append(str(e))
            warnings.warn(f"skipping invalid checkpoint: {e}", stacklevel=2)
            continue
        return path, tensors, state
    if problems:
        raise CheckpointError(f"no valid checkpoint in {Path(run_dir) / CKPT_DIR}: {problems[-1]}")
    return None


def remove_temporary(run_dir: Path) -> None:
    root = Path(run_dir) / CKPT_DIR
    if root.is_dir():
        for p in root.glob(".step-*.tmp"):
            with contextlib.suppress(OSError):
                shutil.rmtree(p)
