#!/usr/bin/env python3
"""A stand-in for NVIDIA's transfer.py that holds what we send to the facts
of the real one, for t/contract.bats.  It loads no model: it checks.

Every fact below was read in nvidia-cosmos/cosmos-transfer1 at commit
5005e82 (files under cosmos_transfer1/diffusion/inference/); each says
where.  None of upstream's code is copied: this is our statement of its
interface, and it fails (exit 2, like argparse, or 1 with the upstream
message) where the real program would.

Outputs are written where the real program writes them: OUT/NAME.mp4 for
one run, OUT/video_<i>/output.mp4 for item i of a batch (a copy of the
item's visual input, so the pipeline downstream has a real video).  What
each item received is kept in OUT/contract.jsonl for the tests.
"""
import argparse
import copy
import json
import os
import shutil
import sys

LEVELS = ["very_low", "low", "medium", "high", "very_high"]

# The parser, flag by flag: transfer.py lines 56-172 (parse_arguments).
# (name, type or "flag", choices)
FLAGS = [
    ("--prompt", str, None),                    # l.57
    ("--negative_prompt", str, None),           # l.63
    ("--input_video_path", str, None),          # l.69, default ""
    ("--num_input_frames", int, [1]),           # l.75
    ("--sigma_max", float, None),               # l.81, default 70.0
    ("--blur_strength", str, LEVELS),           # l.83
    ("--canny_threshold", str, LEVELS),         # l.90
    ("--controlnet_specs", str, None),          # l.97, required
    ("--is_av_sample", "flag", None),           # l.103
    ("--checkpoint_dir", str, None),            # l.106
    ("--tokenizer_dir", str, None),             # l.109
    ("--video_save_name", str, None),           # l.115, default "output"
    ("--video_save_folder", str, None),         # l.121, default "outputs/"
    ("--batch_input_path", str, None),          # l.127
    ("--batch_size", int, None),                # l.131
    ("--num_steps", int, None),                 # l.132, default 35
    ("--guidance", float, None),                # l.133
    ("--fps", int, None),                       # l.134
    ("--seed", int, None),                      # l.135
    ("--num_gpus", int, None),                  # l.136
    ("--offload_diffusion_transformer", "flag", None),  # l.138
    ("--offload_text_encoder_model", "flag", None),     # l.143
    ("--offload_guardrail_models", "flag", None),       # l.148
    ("--upsample_prompt", "flag", None),                # l.153
    ("--offload_prompt_upsampler", "flag", None),       # l.158
    ("--use_distilled", "flag", None),                  # l.162
    ("--save_input_noise", "flag", None),               # l.164
    ("--benchmark", "flag", None),                      # l.170
]
DEFAULTS = {"input_video_path": "", "sigma_max": 70.0, "num_steps": 35,
            "video_save_name": "output", "video_save_folder": "outputs/"}

# inference_utils.py l.1194: the control ("hint") keys a spec may hold.
HINT_KEYS = {"vis", "seg", "edge", "depth", "keypoint", "upscale", "hdmap", "lidar"}


def fail(msg):
    print("transfer.py (stand-in): " + msg, file=sys.stderr)
    sys.exit(1)


def parse():
    p = argparse.ArgumentParser(prog="transfer.py")
    for name, kind, choices in FLAGS:
        dest = name[2:]
        if kind == "flag":
            p.add_argument(name, action="store_true")
        else:
            p.add_argument(name, type=kind, choices=choices, default=DEFAULTS.get(dest),
                           required=name == "--controlnet_specs")
    return p.parse_args()  # an unknown flag: exit 2, as upstream


def load_spec(cfg):
    # inference_utils.py l.1197-1213 (load_controlnet_specs): hint keys are
    # controls; any other key must not be an object, and is an argument.
    with open(cfg.controlnet_specs) as f:
        spec = json.load(f)
    controls, args = {}, {}
    for k, v in spec.items():
        if k in HINT_KEYS:
            controls[k] = v
        elif isinstance(v, dict):
            fail("Invalid hint_key: %s" % k)
        else:
            args[k] = v
    # transfer.py l.182-185: a spec argument applies unless the command
    # line gives the flag.
    for k, v in args.items():
        if "--" + k not in sys.argv:
            setattr(cfg, k, v)
    return controls


def validate(cfg, controls):
    # inference_utils.py l.1216-1277 (validate_controlnet_specs), called by transfer.py l.217
    # on the shared spec before any batch item is read.
    for k, c in controls.items():
        if not cfg.input_video_path and cfg.sigma_max < 80:       # l.1236
            fail("Must have 'input_video' specified if sigma_max < 80")
        if not cfg.input_video_path and "input_control" not in c:  # l.1239
            fail("%s controlnet must have 'input_control' video specified if no 'input_video' specified." % k)
        w = c.get("control_weight", 0.5)                           # l.1260-1275
        if not (isinstance(w, str) and w.endswith(".pt")):
            try:
                ok = float(w) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                fail("Control weight for %s must be a valid non-negative float or a path to a .pt file." % k)


def check_world(cfg):
    """Context parallel over the run's GPUs: transfer.py l.222-229 calls
    initialize_model_parallel(context_parallel_size=cfg.num_gpus), and
    NVIDIA's examples launch it as torchrun --nproc_per_node=$NUM_GPU ...
    --num_gpus $NUM_GPU with CUDA_VISIBLE_DEVICES naming that many GPUs
    (examples/inference_cosmos_transfer1_7b.md l.120-133)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if (cfg.num_gpus or 1) != world:
        fail("--num_gpus %s, but torchrun started %d processes" % (cfg.num_gpus, world))
    seen = os.environ.get("CUDA_VISIBLE_DEVICES")
    if seen is not None and len([d for d in seen.split(",") if d]) != world:
        fail("CUDA_VISIBLE_DEVICES=%s does not name %d GPUs" % (seen, world))
    return {"WORLD_SIZE": world, "CUDA_VISIBLE_DEVICES": seen}


def main():
    cfg = parse()
    world = check_world(cfg)
    controls = load_spec(cfg)
    validate(cfg, controls)
    if cfg.batch_input_path:
        # transfer.py l.285 with cosmos_transfer1/utils/io.py l.24: one JSON
        # object a line; visual_input is the item's input video.
        with open(cfg.batch_input_path) as f:
            items = [json.loads(l) for l in f if l.strip()]
    else:
        items = [{"prompt": cfg.prompt, "visual_input": cfg.input_video_path}]
    os.makedirs(cfg.video_save_folder, exist_ok=True)
    log = open(os.path.join(cfg.video_save_folder, "contract.jsonl"), "w")
    for i, item in enumerate(items):
        mine = copy.deepcopy(controls)
        # transfer.py l.314-320: each override is merged into the shared
        # control with dict.update; unknown keys are ignored.
        for k, over in item.get("control_overrides", {}).items():
            if k in mine:
                mine[k].update(over)
        visual = item.get("visual_input")
        if not visual or not os.path.isfile(visual):
            fail("item %d: visual_input %r is not a file" % (i, visual))
        # preprocessors.py l.141: a control whose input_control is missing
        # or null is made from the visual input; any other is read, whatever
        # its weight.
        for k, c in mine.items():
            ic = c.get("input_control")
            if ic is not None and not os.path.isfile(ic):
                fail("item %d: %s input_control %r is not a file" % (i, k, ic))
        log.write(json.dumps({"index": i, "visual_input": visual, "prompt": item.get("prompt"),
                              "controls": mine, "num_steps": cfg.num_steps}) + "\n")
        # transfer.py l.392-397: where the video goes.
        if cfg.batch_input_path:
            dest = os.path.join(cfg.video_save_folder, "video_%d" % i, "output.mp4")
        else:
            dest = os.path.join(cfg.video_save_folder, cfg.video_save_name + ".mp4")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(visual, dest)
    log.close()
    with open(os.path.join(cfg.video_save_folder, "transfer_argv.json"), "w") as f:
        json.dump(sys.argv[1:], f)
    with open(os.path.join(cfg.video_save_folder, "transfer_world.json"), "w") as f:
        json.dump(world, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
