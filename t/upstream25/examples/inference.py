#!/usr/bin/env python3
"""A stand-in for NVIDIA Cosmos-Transfer2.5's examples/inference.py that
holds what we send to the facts of the real one, for t/transfer25.bats.
It loads no model: it checks, then copies the input video.

Every fact below was read in nvidia-cosmos/cosmos-transfer2.5 at HEAD
2ff49d0 (2026-06-07); each names its file and line (config.py is
cosmos_transfer2/config.py).  None of upstream's code is copied: this is
our statement of its interface (pydantic v2 and tyro, here in the Python
standard library), failing where upstream would: a command-line error is
tyro's (exit 2), a spec that does not validate prints
"Error validating parameters from '<path>' at line <i>" and the error,
and exits 1 (config.py:375-378), the other checks exit 1 with upstream's
message.

On success, for each sample, as upstream does (all flat in -o,
cosmos_transfer2/inference.py:187): OUT/<name>.json (the validated
arguments, written before generation, :205-208), then OUT/<name>.mp4 (here
a copy of video_path) and OUT/<name>.txt (the prompt, :338-343).  Upstream's
guardrail may block a sample, which then leaves only <name>.json
(:215-221, 323-325); this stand-in blocks a prompt holding
"[standin-guardrail-blocks]".  What it was run with is kept in
OUT/inference_argv.json and OUT/inference_world.json for the tests.
"""
import json
import os
import shutil
import sys

THRESHOLDS = ["very_low", "low", "medium", "high", "very_high"]  # config.py:425 (Threshold)
CONTROL_KEYS = ["edge", "vis", "depth", "seg"]                    # config.py:512-515

# The command line (tyro, OmitArgPrefixes: no "setup." prefix;
# examples/inference.py:85-90).  tyro takes --a-b and --a_b alike.
# (name, kind, choices); kind "bool" is a --x / --no-x pair.
SETUP_FLAGS = [
    ("output-dir", "path", None),                    # config.py:219, required, alias -o
    ("model", "str", ["edge", "depth", "seg", "vis"]),  # config.py:224, 305, 158-188
    ("checkpoint-path", "str", None),                # config.py:226
    ("experiment", "str", None),                     # config.py:228
    ("config-file", "str", None),                    # config.py:230
    ("context-parallel-size", "posint", None),       # config.py:232
    ("disable-guardrails", "bool", None),            # config.py:234
    ("offload-guardrail-models", "bool", None),      # config.py:236
    ("keep-going", "bool", None),                    # config.py:238
    ("profile", "bool", None),                       # config.py:240
    ("benchmark", "bool", None),                     # config.py:242
    ("compile-tokenizer", "str", ["none", "moderate", "aggressive"]),  # config.py:244
    ("enable-parallel-tokenizer", "bool", None),     # config.py:246
    ("parallel-tokenizer-grid", "int2", None),       # config.py:248
]
# Every InferenceArguments field but name and the controls is also an
# optional flag whose value replaces the spec's (config.py:65-84, 595-604).
OVERRIDE_FLAGS = [
    ("prompt", "str"), ("prompt-path", "str"), ("negative-prompt", "str"), ("seed", "int"),
    ("guidance", "int"), ("video-path", "str"), ("max-frames", "int"), ("context-frame-index", "int"),
    ("image-context-path", "str"), ("num-conditional-frames", "int"), ("resolution", "str"),
    ("sigma-max", "str"), ("num-video-frames-per-chunk", "int"), ("num-steps", "int"),
    ("show-control-condition", "bool"), ("show-input", "bool"), ("keep-input-resolution", "bool"),
    ("guided-generation-mask", "str"), ("guided-generation-step-threshold", "int"),
]


def usage_error(msg):
    # tyro prints its usage and the error to stderr and exits 2.
    print("usage: inference.py [-h] -i PATH [PATH ...] -o PATH [OPTIONS]", file=sys.stderr)
    print("inference.py: error: " + msg, file=sys.stderr)
    sys.exit(2)


def parse(argv):
    """examples/inference.py:47-61 (Args: --input-files/-i, list[Path],
    required, :50-54; the control:{edge,depth,vis,seg} subcommand, which
    main() never reads, :36-44, 60-61) and the setup flags above."""
    kinds = {n: (k, c) for n, k, c in SETUP_FLAGS}
    kinds.update({n: (k, None) for n, k in OVERRIDE_FLAGS})
    args = {"input-files": [], "overrides": {}}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a in ("-i", "--input-files", "--input_files"):
            while i < len(argv) and not argv[i].startswith("-"):
                args["input-files"].append(argv[i])
                i += 1
            continue
        if a.startswith("control:"):
            if a[8:] not in CONTROL_KEYS:
                usage_error("invalid choice: %r" % a)
            continue
        if a == "-o":
            a = "--output-dir"
        if not a.startswith("--"):
            usage_error("unrecognized argument: %s" % a)
        name, eq, value = a[2:].partition("=")
        name = name.replace("_", "-")
        neg = name.startswith("no-") and kinds.get(name[3:], ("",))[0] == "bool"
        if neg:
            name = name[3:]
        if name not in kinds:
            usage_error("unrecognized arguments: %s" % a)
        kind, choices = kinds[name]
        if kind == "bool":
            if eq:
                usage_error("%s takes no value" % a)
            value = not neg
        elif kind == "int2":
            if eq or i + 1 >= len(argv):
                usage_error("%s needs two integers" % a)
            value = [argv[i], argv[i + 1]]
            i += 2
        else:
            if not eq:
                if i >= len(argv):
                    usage_error("argument --%s: expected one argument" % name)
                value = argv[i]
                i += 1
            if choices and value not in choices:
                usage_error("argument --%s: invalid choice: %r" % (name, value))
            if kind in ("int", "posint"):
                try:
                    value = int(value)
                except ValueError:
                    usage_error("argument --%s: invalid int value: %r" % (name, value))
        if any(name == n for n, _ in OVERRIDE_FLAGS):
            args["overrides"][name.replace("-", "_")] = value
        else:
            args[name] = value
    if not args["input-files"]:
        usage_error("the following arguments are required: --input-files/-i")
    if "output-dir" not in args:
        usage_error("the following arguments are required: --output-dir/-o")
    return args


# --- pydantic's rules, as upstream's models use them --------------------

class Invalid(Exception):
    pass


def want_str(v, where):
    # pydantic v2 does not make a string of a number.
    if not isinstance(v, str):
        raise Invalid("%s\n  Input should be a valid string [type=string_type, input_value=%r]" % (where, v))
    return v


def want_int(v, where, lo=None, hi=None):
    # Lax mode: a whole float or a numeric string becomes an int; 2.5 does not.
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise Invalid("%s\n  Input should be a valid integer [type=int_type, input_value=%r]" % (where, v))
    try:
        f = float(v)
    except ValueError:
        raise Invalid("%s\n  Input should be a valid integer, unable to parse string as an integer" % where)
    if f != int(f):
        raise Invalid("%s\n  Input should be a valid integer, got a number with a fractional part "
                      "[type=int_from_float, input_value=%r]" % (where, v))
    n = int(f)
    if lo is not None and n < lo:
        raise Invalid("%s\n  Input should be greater than or equal to %d [type=greater_than_equal]" % (where, lo))
    if hi is not None and n > hi:
        raise Invalid("%s\n  Input should be less than or equal to %d [type=less_than_equal]" % (where, hi))
    return n


def want_float(v, where, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Invalid("%s\n  Input should be a valid number [type=float_type, input_value=%r]" % (where, v))
    if v < lo or v > hi:
        raise Invalid("%s\n  Input should be between %s and %s [input_value=%r]" % (where, lo, hi, v))
    return float(v)


def want_bool(v, where):
    if not isinstance(v, bool):
        raise Invalid("%s\n  Input should be a valid boolean [type=bool_type, input_value=%r]" % (where, v))
    return v


def want_file(v, where):
    # ResolvedFilePath: pydantic.FilePath (an existing file, relative to
    # the working directory: the spec's folder), made absolute with
    # Path.absolute(), which keeps ".." (config.py, ResolvedFilePath).
    want_str(v, where)
    if not os.path.isfile(v):
        raise Invalid("%s\n  Path does not point to a file [type=path_not_file, input_value=%r]" % (where, v))
    return os.path.join(os.getcwd(), os.path.expanduser(v))


def want_choice(v, where, choices):
    if v not in choices:
        raise Invalid("%s\n  Input should be %s [type=literal_error, input_value=%r]"
                      % (where, " or ".join(repr(c) for c in choices), v))
    return v


def control(key, data):
    """ControlConfig (config.py:428-438) and its kinds: edge's
    preset_edge_threshold (:463), vis's preset_blur_strength (:453), seg's
    control_prompt (:472-474).  No extra="forbid" here: unknown keys are
    ignored."""
    if not isinstance(data, dict):
        raise Invalid("%s\n  Input should be a valid dictionary or instance of %sConfig [type=model_type]" % (key, key))
    c = {"control_path": None, "control_weight": 1.0, "mask_path": None, "mask_prompt": None}
    if data.get("control_path") is not None:
        c["control_path"] = want_file(data["control_path"], key + ".control_path")
    if "control_weight" in data:
        # ControlWeight: float, 0.0 <= w <= 1.0 (config.py:423, 433).
        c["control_weight"] = want_float(data["control_weight"], key + ".control_weight", 0.0, 1.0)
    if data.get("mask_path") is not None:
        c["mask_path"] = want_file(data["mask_path"], key + ".mask_path")
    if data.get("mask_prompt") is not None:
        c["mask_prompt"] = want_str(data["mask_prompt"], key + ".mask_prompt")
    if key == "edge":
        c["preset_edge_threshold"] = want_choice(data.get("preset_edge_threshold", "medium"),
                                                 "edge.preset_edge_threshold", THRESHOLDS)
    if key == "vis":
        c["preset_blur_strength"] = want_choice(data.get("preset_blur_strength", "medium"),
                                                "vis.preset_blur_strength", THRESHOLDS)
    if key == "seg" and data.get("control_prompt") is not None:
        c["control_prompt"] = want_str(data["control_prompt"], "seg.control_prompt")
    return c


# InferenceArguments (config.py:480-592) on CommonInferenceArguments
# (:311-351): each field, what it must be, and its default.
FIELDS = {
    "name": None, "prompt_path": None, "prompt": None,                       # :317-323
    "negative_prompt": "(upstream's DEFAULT_NEGATIVE_PROMPT, config.py:210)",  # :520
    "seed": 2025, "guidance": 3,                                             # :517, 308, 331
    "video_path": None, "max_frames": None, "context_frame_index": None,      # :481-487
    "image_context_path": None, "num_conditional_frames": 1,                 # :489, 493
    "resolution": "720", "sigma_max": None, "num_video_frames_per_chunk": 93,  # :496-500
    "num_steps": 35, "show_control_condition": False, "show_input": False,    # :502-507
    "keep_input_resolution": True,                                           # :509
    "edge": None, "depth": None, "vis": None, "seg": None,                   # :512-515
    "guided_generation_mask": None, "guided_generation_step_threshold": 25,  # :526-529
    "guided_generation_foreground_labels": None,                            # :531
}


def validate(data):
    """model_validate: the fields, then model_post_init (:539-546)."""
    if not isinstance(data, dict):
        raise Invalid("Input should be a valid dictionary")
    # extra="forbid" (config.py:314): a key the model does not have.
    for k in data:
        if k not in FIELDS:
            raise Invalid("%s\n  Extra inputs are not permitted [type=extra_forbidden]" % k)
    a = dict(FIELDS)
    if "name" not in data:                                 # :317, required
        raise Invalid("name\n  Field required [type=missing]")
    a["name"] = want_str(data["name"], "name")
    if data.get("prompt") is None and data.get("prompt_path") is not None:
        # validate_prompt: the file's text, stripped, unless prompt is set (:334-351).
        with open(want_file(data["prompt_path"], "prompt_path")) as f:
            data = dict(data, prompt=f.read().strip())
    if data.get("prompt") is None:                         # prompt: str (:523)
        raise Invalid("prompt\n  Field required [type=missing]")
    a["prompt"] = want_str(data["prompt"], "prompt")
    if "negative_prompt" in data:
        a["negative_prompt"] = want_str(data["negative_prompt"], "negative_prompt")
    if "video_path" not in data:                           # :481, required
        raise Invalid("video_path\n  Field required [type=missing]")
    a["video_path"] = want_file(data["video_path"], "video_path")
    for k, lo, hi in (("seed", None, None), ("guidance", 0, 7), ("num_steps", 1, None),
                      ("num_video_frames_per_chunk", 1, None), ("guided_generation_step_threshold", None, None)):
        if k in data:
            a[k] = want_int(data[k], k, lo, hi)
    for k in ("max_frames", "context_frame_index"):      # PositiveInt | None
        if data.get(k) is not None:
            a[k] = want_int(data[k], k, 1)
    if "num_conditional_frames" in data:                   # Literal[0, 1, 2]
        a["num_conditional_frames"] = want_choice(data["num_conditional_frames"], "num_conditional_frames", [0, 1, 2])
    if "resolution" in data:
        a["resolution"] = want_str(data["resolution"], "resolution")
    if data.get("sigma_max") is not None:                  # str | None (:498)
        a["sigma_max"] = want_str(data["sigma_max"], "sigma_max")
    for k in ("show_control_condition", "show_input", "keep_input_resolution"):
        if k in data:
            a[k] = want_bool(data[k], k)
    for k in ("image_context_path", "guided_generation_mask"):
        if data.get(k) is not None:
            a[k] = want_file(data[k], k) if k == "image_context_path" else want_str(data[k], k)
    for k in CONTROL_KEYS:
        if data.get(k) is not None:
            a[k] = control(k, data[k])
    a["prompt_path"] = None
    # model_post_init raises a plain ValueError, which pydantic does not
    # wrap in a ValidationError: a traceback, not the message above.
    if not any(a[k] is not None for k in CONTROL_KEYS):
        raise ValueError("No controls provided, please provide at least one control key (edge, blur, depth, seg)")
    if a["vis"] is not None and a["image_context_path"]:
        raise ValueError("vis control and image_context_path are both used to transfer style. "
                         "Using these modes together leads to conflicts. Please only provide one")
    return a


def from_file(path, overrides):
    """_from_file (config.py:353-381)."""
    if path.endswith(".json"):
        with open(path) as f:
            data_list = [json.loads(f.read())]
    elif path.endswith(".jsonl"):
        # splitlines(), no blank line skipped (:360-363): json.loads("")
        # raises before any validation, a JSONDecodeError that nothing
        # catches (a traceback, exit 1).
        with open(path) as f:
            data_list = [json.loads(line) for line in f.read().splitlines()]
    else:
        raise ValueError("Unsupported file extension: %s" % os.path.splitext(path)[1])  # :365
    cwd = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(path)))       # :367-370: paths relative to the spec
    objs = []
    for i, data in enumerate(data_list):
        try:
            if isinstance(data, dict):
                data = dict(data, **overrides)             # data | override_data (:374)
            objs.append(validate(data))
        except Invalid as e:
            print("Error validating parameters from '%s' at line %d\n%s" % (path, i, e), file=sys.stderr)
            sys.exit(1)
    os.chdir(cwd)
    return objs


def main():
    args = parse(sys.argv[1:])
    out = args["output-dir"]
    try:
        samples = []
        for p in args["input-files"]:
            samples.extend(from_file(p, args["overrides"]))
    except ValueError as e:
        # Uncaught upstream: Python's traceback, ending with the
        # exception's name and message, and exit 1.
        kind = type(e).__name__ if type(e) is ValueError else "%s.%s" % (type(e).__module__, type(e).__name__)
        print("Traceback (most recent call last):\n  (stand-in)\n%s: %s" % (kind, e), file=sys.stderr)
        sys.exit(1)
    if not samples:
        print("Error: No inference samples", file=sys.stderr)   # :403-406
        sys.exit(1)
    names = set()
    for s in samples:
        if s["name"] in names:
            print("Error: Inference samplename %s is not unique" % s["name"], file=sys.stderr)  # :411-414
            sys.exit(1)
        names.add(s["name"])
    # Only rank 0 writes files (cosmos_transfer2/inference.py:145-156).
    if os.environ.get("RANK", "0") != "0":
        return 0
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "inference_argv.json"), "w") as f:
        json.dump(sys.argv[1:], f)
    with open(os.path.join(out, "inference_world.json"), "w") as f:
        json.dump({"nproc_per_node": int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
                   "WORLD_SIZE": int(os.environ.get("WORLD_SIZE", "1")),
                   "master_port": int(os.environ.get("MASTER_PORT", "0")),
                   "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}, f)
    for s in samples:
        base = os.path.join(out, s["name"])
        with open(base + ".json", "w") as f:
            json.dump(s, f)
        if "[standin-guardrail-blocks]" in s["prompt"]:
            print("[stand-in] Guardrail blocked video2world generation: %s" % s["name"], file=sys.stderr)
            continue  # --keep-going: a blocked sample is skipped (:166-170)
        shutil.copyfile(s["video_path"], base + ".mp4")
        with open(base + ".txt", "w") as f:
            f.write(s["prompt"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
