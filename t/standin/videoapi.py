#!/usr/bin/env python3
"""videoapi.py DIR - a real HTTP server on loopback standing in for two
hosted video APIs, for the http backend's tests (t/videoapi.bash runs it).

One 127.0.0.1 port serves Google's Gemini API for Veo under /v1beta
("gemini") and Replicate's predictions API under /v1 ("replicate") as the
project's protocol notes, hosted-video-apis.md (sections 0, 2 and 3),
document them: paths, status codes, JSON shapes, headers and error
envelopes.  Comments cite that document's source keys ([doc G1], [code R4],
...); what no source says is marked "ours".  "Another host" (redirect and
delivery targets) is localhost:PORT: the same server under a different Host
name, so a test can see whether credentials left the API's host.

DIR holds key (the one valid key) and video.mp4 (every video served).  The
server writes DIR/pid and DIR/port, appends one JSON line per request to
DIR/requests.jsonl, and is steered by DIR/control.json, re-read on each
request; its lists are queues whose consumed heads are removed from the file:
  submit_faults  one per submit: {"status": 429, "retry_after": S[, "header":
                 true]}, {"status": 429, "daily": true}, {"status": 400|500|503},
                 {"hang": S} (answer S seconds late), {"close": true}
  outcomes       one per operation created: ok filtered fail empty slow aborted
                 removed expired (default ok); "[NAME]" in a prompt overrides
  poll_faults    one per GET of one operation: {"status": 404|500|503}
  run_seconds    how long an operation runs (1.0); page_size (100); models
                 (the gemini model ids that exist; default: veo-*)
  blob           how videos are sent: "endless" (a body without end, 64 KiB
                 at a time, no Content-Length) or "trickle" (a byte every
                 0.5 s); either stops by itself after 40 s (ours, hostile)
GET /_control/operations and POST /_control/finish/ID are for the tests.
Python standard library only.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

API_HOST, OTHER_HOST = "127.0.0.1", "localhost"
OUTCOMES = ("ok", "filtered", "fail", "empty", "slow", "aborted", "removed", "expired")
DIR = KEY = PORT = LOG_FD = None
STATE = threading.Lock()      # OPS and FILES
CONTROL = threading.Lock()    # control.json read-modify-write
LOG = threading.Lock()        # requests.jsonl
OPS = {}                      # id -> operation (gemini) or prediction (replicate)
FILES = {}                    # replicate uploads: id -> (object, bytes)
SEQ = [0]                     # creation order, for replicate's list cursor

# [issue I1][issue I2] the reason a filtered Veo operation carries (as the doc quotes it)
RAI_REASON = ("We encountered an issue with the audio for your prompt\u2026 "
              "You have not been charged for this attempt.")
# [code R7] Replicate's content-filter error
E005 = ("The input or output was flagged as sensitive. "
        "Please try again with different inputs. (E005)")
GEMINI_RESPONSE_TYPE = ("type.googleapis.com/google.ai.generativelanguage."
                        "v1beta.PredictLongRunningResponse")


# ---------------------------------------------------------------- helpers

def rand_id(n):
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def iso(t):
    """Replicate's timestamps: ISO 8601, microseconds, Z [doc R1]."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seconds(s):
    """A number of seconds as text: 30 -> "30", 1.5 -> "1.5"."""
    return str(int(s)) if float(s) == int(s) else str(s)


def write_atomic(name, text):
    path = os.path.join(DIR, name)
    tmp = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def video_bytes():
    with open(os.path.join(DIR, "video.mp4"), "rb") as f:
        return f.read()


class Reply:
    def __init__(self, status, body=b"", ctype=None, headers=()):
        self.status, self.body, self.delay, self.stream = status, body, 0.0, None
        self.headers = list(headers) + ([("Content-Type", ctype)] if ctype else [])


def text(status, msg):
    return Reply(status, (msg + "\n").encode(), "text/plain; charset=utf-8")


# ---------------------------------------------------------------- control.json

def read_control():
    try:
        with open(os.path.join(DIR, "control.json")) as f:
            c = json.load(f)
        return c if isinstance(c, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        print(f"videoapi: control.json: {e}", file=sys.stderr)
        return {}


def setting(key, default):
    v = read_control().get(key)
    return default if v is None else v


def take(key):
    """Pop the head of the queue KEY, persisting what is left; None if empty."""
    with CONTROL:
        c = read_control()
        q = c.get(key)
        if not isinstance(q, list) or not q:
            return None
        head = q.pop(0)
        write_atomic("control.json", json.dumps(c, indent=1) + "\n")
        return head


# ---------------------------------------------------------------- operations

def outcome_for(texts):
    """A [marker] in the prompt wins (and leaves the queue alone); else the
    queue's head; else ok.  Ours: every outcome name works as a marker."""
    for o in OUTCOMES:
        if any(f"[{o}]" in t for t in texts):
            return o
    o = take("outcomes") or "ok"
    if o not in OUTCOMES:
        print(f"videoapi: unknown outcome {o!r}, using ok", file=sys.stderr)
        o = "ok"
    return o


def create_op(provider, model, version, inp, texts):
    now = time.time()
    outcome = outcome_for(texts)
    run = float(setting("run_seconds", 1.0))
    op = {"provider": provider, "id": rand_id(12 if provider == "gemini" else 26),
          "model": model, "version": version, "input": inp, "created": now,
          "run": run, "outcome": outcome, "canceled": None,
          "end": None if outcome == "slow" else now + run}
    if provider == "gemini":
        op["name"] = f"models/{model}/operations/{op['id']}"
        op["file"] = rand_id(12)
    with STATE:
        SEQ[0] += 1
        op["seq"] = SEQ[0]
        OPS[op["id"]] = op
    return op


def phase(op, now):
    """starting, processing, canceled or ended."""
    if op["canceled"] is not None:
        return "canceled"
    if op["end"] is not None and now >= op["end"]:
        return "ended"
    if op["outcome"] == "aborted" or now < op["created"] + 0.2 * op["run"]:
        return "starting"
    return "processing"


def find_op(provider, key, value):
    with STATE:
        for op in OPS.values():
            if op["provider"] == provider and op.get(key) == value:
                return op
    return None


def op_summary(op, now):
    ph = phase(op, now)
    if op["provider"] == "gemini":
        status = "done" if ph == "ended" else "running"
    else:
        status = r_prediction(op, now)["status"]
    return {"provider": op["provider"], "id": op["id"], "name": op.get("name"),
            "model": op["model"], "status": status, "outcome": op["outcome"],
            "created": op["created"], "created_at": iso(op["created"])}


# ---------------------------------------------------------------- gemini

G_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
            504: "DEADLINE_EXCEEDED"}       # [doc G2]
G_MESSAGE = {400: "Request contains an invalid argument.",
             404: "Requested entity was not found.",
             500: "An internal error has occurred. Please retry or report in "
                  "https://developers.generativeai.google/guide/troubleshooting",
             503: "The model is overloaded. Please try again later.",
             504: "The request timed out. Please try again."}   # ours: no source quotes them
G_REFUSED = ("seed", "fps", "generateAudio", "outputGcsUri",
             "generate_audio", "output_gcs_uri")              # [code G5]
G_SUBMIT = re.compile(r"/v1beta/models/([^/:]+):predictLongRunning")
G_OP = re.compile(r"/v1beta/models/([^/:]+)/operations/([a-z0-9]+)")
G_FILE = re.compile(r"/v1beta/files/([a-z0-9]+):download")


def gjson(status, obj, headers=()):
    """Google answers pretty-printed JSON (ours: as its APIs do)."""
    body = (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()
    return Reply(status, body, "application/json; charset=UTF-8", headers)


def gerror(code, message=None, details=None, headers=()):
    """The error envelope {"error": {code, message, status, details}} [doc G2]."""
    err = {"code": code, "message": message or G_MESSAGE.get(code, "Error."),
           "status": G_STATUS.get(code, "UNKNOWN")}
    if details:
        err["details"] = details
    return gjson(code, {"error": err}, headers)


def g_quota(daily, delay, headers):
    """429 RESOURCE_EXHAUSTED with QuotaFailure, Help and, unless the quota
    is per day, RetryInfo.retryDelay [issue I10][code S5][issue I12]."""
    if daily:
        metric, qid = "per_model_per_day", "GenerateRequestsPerDayPerProjectPerModel"
    else:
        metric, qid = "per_model", "GenerateRequestsPerMinutePerProjectPerModel"
    details = [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": qid, "quotaMetric":
                                "generativelanguage.googleapis.com/generate_requests_" + metric}]},
               {"@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Learn more about Gemini API quotas",
                           "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}]
    if not daily:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": seconds(delay) + "s"})
    return gerror(429, "You exceeded your current quota, please check your plan and billing "
                  "details. For more information on this error, head to: "
                  "https://ai.google.dev/gemini-api/docs/rate-limits.", details, headers)


def gemini(h):
    # [doc G1] x-goog-api-key; [code G4] ?key= works too.
    given = h.headers.get("x-goog-api-key") or (h.query.get("key") or [None])[0]
    if not given:   # [code I13]
        return gerror(403, "Method doesn't allow unregistered callers (callers without "
                      "established identity). Please use API Key or other form of API "
                      "consumer identity to call this API.")
    if given != KEY:   # [code I13]: 400, not 401
        return gerror(400, "API key not valid. Please pass a valid API key.",
                      [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}}])
    p, c = h.route, h.command
    if (m := G_SUBMIT.fullmatch(p)) and c == "POST":
        return g_submit(h, m[1])
    if (m := G_OP.fullmatch(p)) and c == "GET":
        return poll_fault("gemini") or g_poll(m[1], m[2])
    if (m := G_FILE.fullmatch(p)) and c == "GET":
        return g_download(h, m[1])
    return gerror(404)   # no cancel, no list [doc G1][code G5]


def g_model_known(model):
    models = setting("models", None)
    return model in models if isinstance(models, list) else model.startswith("veo-")


def g_submit(h, model):
    fault = take("submit_faults") or {}
    if fault.get("close"):
        return None
    body = h.json_body()
    if "status" in fault:
        return fault_reply("gemini", fault)
    if not g_model_known(model):   # [issue I9]
        return gerror(404, f"models/{model} is not found for API version v1beta, or is not "
                      "supported for predictLongRunning. Call ListModels to see the list of "
                      "available models and their supported methods.")
    err = g_invalid(body)
    if err:
        return gerror(400, err)
    inst = body["instances"][0]
    op = create_op("gemini", model, None, body, [inst["prompt"]])
    r = gjson(200, {"name": op["name"]})   # [doc G1][code G4]
    r.delay = float(fault.get("hang", 0))
    return r


def g_invalid(body):
    """Why a predictLongRunning body is refused, or None [doc G1][code G5]."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for k in body:
        if k not in ("instances", "parameters"):   # [code F7]: Google's wording for unknown fields
            return f'Invalid JSON payload received. Unknown name "{k}": Cannot find field.'
    inst = body.get("instances")
    if not (isinstance(inst, list) and len(inst) == 1 and isinstance(inst[0], dict)):
        return "instances must hold exactly one instance."
    prompt = inst[0].get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "instances[0].prompt must be a non-empty string."
    if "video" in inst[0]:
        v = inst[0]["video"]
        if not (isinstance(v, dict) and isinstance(v.get("uri"), str) and g_video_of(v["uri"])):
            return "instances[0].video must name a video generated by Veo (video.uri)."
    par = body.get("parameters", {})
    if not isinstance(par, dict):
        return "parameters must be an object."
    for k in G_REFUSED:
        if k in par:
            return (f"Invalid JSON payload received. Unknown name \"{k}\" at 'parameters': "
                    "Cannot find field.")
    if par.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
        return "aspectRatio must be 16:9 or 9:16."
    res, dur = par.get("resolution", "720p"), par.get("durationSeconds", 8)
    if res not in ("720p", "1080p"):
        return "resolution must be 720p or 1080p."
    if type(dur) not in (int, float) or dur not in (4, 6, 8):
        return "durationSeconds must be 4, 6 or 8."
    if res == "1080p" and dur != 8:
        return "1080p is only supported with durationSeconds 8."
    return None


def g_file_uri(op):
    return f"http://{API_HOST}:{PORT}/v1beta/files/{op['file']}:download?alt=media"


def g_video_of(uri):
    """The finished operation whose video URI is URI, or None."""
    u = urlsplit(uri)
    m = G_FILE.fullmatch(u.path)
    if u.netloc != f"{API_HOST}:{PORT}" or not m:
        return None
    op = find_op("gemini", "file", m[1])
    ok = op and phase(op, time.time()) == "ended" and op["outcome"] == "ok"
    return op if ok else None


def g_operation(op, now):
    """The Operation as polled [doc G1][code G4][code G5]: done is omitted
    while running."""
    d = {"name": op["name"]}
    if phase(op, now) != "ended":
        return d
    d["done"] = True
    o = op["outcome"]
    if o in ("fail", "aborted"):   # ours: aborted is replicate's; here a failure
        d["error"] = {"code": 13, "message": "Video generation failed: internal error (stand-in)."}
        return d
    if o == "filtered":   # [issue I1][issue I2]: no samples
        gvr = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
    elif o == "empty":    # [issue I3]
        gvr = {}
    else:
        gvr = {"generatedSamples": [{"video": {"uri": g_file_uri(op)}}]}
    d["response"] = {"@type": GEMINI_RESPONSE_TYPE, "generateVideoResponse": gvr}
    return d


def g_poll(model, oid):
    op = OPS.get(oid)
    if not op or op["provider"] != "gemini" or op["model"] != model:
        return gerror(404)
    return gjson(200, g_operation(op, time.time()))


def g_download(h, fid):
    """[doc G1b]: key required on the first hop, then a redirect to another host."""
    if (h.query.get("alt") or [None])[0] != "media":
        return gerror(400, "This download needs alt=media.")   # ours
    op = find_op("gemini", "file", fid)
    # [doc G1] videos are removed after 2 days: "expired" answers 404
    if not op or phase(op, time.time()) != "ended" or op["outcome"] != "ok":
        return gerror(404)
    return Reply(302, b"", None, [("Location", f"http://{OTHER_HOST}:{PORT}/blob/{fid}.mp4")])


# ---------------------------------------------------------------- replicate

R_TITLE = {400: "Bad request", 404: "Not found", 500: "Internal server error",
           503: "Service unavailable", 504: "Gateway timeout"}   # ours
R_MODEL = re.compile(r"/v1/models/([^/]+)/([^/]+)/predictions")
R_PRED = re.compile(r"/v1/predictions/([a-z0-9]+)")
R_CANCEL = re.compile(r"/v1/predictions/([a-z0-9]+)/cancel")
R_FILE = re.compile(r"/v1/files/([a-z0-9]+)")
R_FILE_BYTES = re.compile(r"/v1/files/([a-z0-9]+)/download")
R_VERSION = re.compile(r"([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)(?::([0-9a-f]{64}))?")
R_HEX64 = re.compile(r"[0-9a-f]{64}")


def rjson(status, obj, headers=(), ctype="application/json"):
    return Reply(status, json.dumps(obj).encode(), ctype, headers)


def problem(status, title, detail, headers=()):
    """RFC 7807 problem details [code R4][code R6]."""
    return rjson(status, {"title": title, "detail": detail, "status": status}, headers,
                 ctype="application/problem+json")


def replicate(h):
    scheme, _, token = h.headers.get("Authorization", "").partition(" ")
    # [doc R1] Bearer; the files example uses the older Token scheme.
    if scheme.lower() not in ("bearer", "token") or token.strip() != KEY:
        return problem(401, "Unauthenticated",   # [code R6]
                       "You did not pass a valid authentication token")
    p, c = h.route, h.command
    if p == "/v1/predictions":
        return r_create(h, None) if c == "POST" else r_list(h) if c == "GET" else r_not_found()
    if (m := R_MODEL.fullmatch(p)) and c == "POST":
        return r_create(h, (m[1], m[2]))
    if (m := R_PRED.fullmatch(p)) and c == "GET":
        return poll_fault("replicate") or r_get(m[1])
    if (m := R_CANCEL.fullmatch(p)) and c == "POST":
        return r_cancel(m[1])
    if p == "/v1/files" and c == "POST":
        return r_upload(h)
    if (m := R_FILE.fullmatch(p)) and c in ("GET", "DELETE"):
        return r_file(m[1], c)
    if (m := R_FILE_BYTES.fullmatch(p)) and c == "GET" and m[1] in FILES:
        return Reply(200, FILES[m[1]][1], FILES[m[1]][0]["content_type"])
    return r_not_found()


def r_not_found():
    return problem(404, "Not found", "The requested resource could not be found.")


def r_version(body, path_model):
    """(model, version) for a create, or None if the version is bad [doc R1]."""
    if path_model:
        model, version = "/".join(path_model), None
    else:
        v = body.get("version")
        if not isinstance(v, str):
            return None
        if R_HEX64.fullmatch(v):
            return "standin/model", v   # ours: a bare version id names no model we know
        m = R_VERSION.fullmatch(v)
        if not m:
            return None
        model, version = f"{m[1]}/{m[2]}", m[3]
    if model.split("/")[0] == "unknown":
        return None
    # ours: an official model's version, made up and stable per model
    return model, version or hashlib.sha256(model.encode()).hexdigest()


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def r_missing_file(inp):
    """The first input URL naming one of our files that does not exist."""
    prefix = f"http://{API_HOST}:{PORT}/v1/files/"
    for s in strings(inp):
        if s.startswith(prefix) and re.split(r"[/?#]", s[len(prefix):])[0] not in FILES:
            return s
    return None


def r_create(h, path_model):
    fault = take("submit_faults") or {}
    if fault.get("close"):
        return None
    body = h.json_body()
    if "status" in fault:
        return fault_reply("replicate", fault)
    if not isinstance(body, dict):
        return problem(400, "Bad request", "The request body is not a JSON object.")
    mv = r_version(body, path_model)
    if not mv:   # [code R6]: exactly this body, no status field
        return rjson(422, {"title": "Invalid version or not permitted",
                           "detail": "The specified version does not exist (or perhaps you "
                                     "don't have permission to use it?)"},
                     ctype="application/problem+json")
    inp = body.get("input")
    if not isinstance(inp, dict):
        return problem(422, "Input validation failed", "input: an object is required")
    missing = r_missing_file(inp)
    if missing:
        return problem(422, "Input validation failed", f"input file not found: {missing}")
    op = create_op("replicate", mv[0], mv[1], inp, strings(inp))
    r = rjson(201, r_prediction(op, op["created"]))   # [code R4 tests]: 201; Prefer: wait ignored
    r.delay = float(fault.get("hang", 0))
    return r


def r_prediction(op, now):
    """The prediction object as GET answers it [doc R1][doc R2]."""
    base = f"http://{API_HOST}:{PORT}/v1/predictions/{op['id']}"
    ph, o = phase(op, now), op["outcome"]
    p = {"id": op["id"], "model": op["model"], "version": op["version"],
         "input": op["input"], "logs": "", "output": None, "data_removed": False,
         "error": None, "source": "api", "status": ph, "created_at": iso(op["created"]),
         "urls": {"get": base, "cancel": base + "/cancel", "stream": base + "/stream",
                  "web": f"http://{API_HOST}:{PORT}/v1/p/{op['id']}"}}
    done = {"canceled": op["canceled"], "ended": op["end"]}.get(ph)
    started = op["created"] + 0.2 * op["run"]
    if done is not None:
        started = min(started, done)
    ran = o != "aborted" and (ph == "processing" or (done is not None and done > started))
    if ran:
        p["started_at"] = iso(started)
        part = 1.0 if ph == "ended" else min(0.99, (now - started) / max(op["run"] * 0.8, 1e-6))
        frames = int(8 * part)
        p["logs"] = "".join(f"frame {i}/8\n" for i in range(1, frames + 1))
    if done is None:
        return p
    p["completed_at"] = iso(done)
    p["metrics"] = {"predict_time": round(done - started, 6) if ran else 0.0,
                    "total_time": round(done - op["created"], 6)}   # [doc R1]
    if ph == "canceled":
        return p
    if o == "aborted":   # [doc R2]
        p["status"] = "aborted"
    elif o == "filtered":   # [code R7]
        p.update(status="failed", error=E005)
    elif o == "fail":
        p.update(status="failed", error="Prediction failed: the model exited with status 1.")
    elif o == "removed":   # [doc R1][doc R12]: inputs, outputs and logs gone
        p.update(status="succeeded", input={}, logs="", data_removed=True)
    elif o == "empty":
        p["status"] = "succeeded"
    else:   # ok, expired: a URL on another host [doc R1]
        p.update(status="succeeded", output=r_output_url(op))
    return p


def r_output_url(op):
    return f"http://{OTHER_HOST}:{PORT}/delivery/{op['id']}/output.mp4"


def r_get(pid):
    op = OPS.get(pid)
    if not op or op["provider"] != "replicate":
        return r_not_found()
    return rjson(200, r_prediction(op, time.time()))


def r_cancel(pid):
    """[doc R1]; a finished prediction stays as it was [doc R8]."""
    with STATE:
        op = OPS.get(pid)
        if not op or op["provider"] != "replicate":
            return r_not_found()
        now = time.time()
        if phase(op, now) in ("starting", "processing"):
            op["canceled"] = now
    return rjson(200, r_prediction(op, now))


def r_cursor(value):
    return base64.urlsafe_b64encode(f"s={value}".encode()).decode() if value else None


def epoch(stamp):
    """An ISO 8601 time (UTC unless it says otherwise) as epoch seconds."""
    t = datetime.fromisoformat(stamp)
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def r_list(h):
    """GET predictions: newest first, page_size a page (100 [doc R1]),
    created_after / created_before, an absolute next URL."""
    q = {k: v[0] for k, v in h.query.items()}
    try:
        cursor = q.get("cursor")
        before_seq = int(base64.urlsafe_b64decode(cursor).decode()[2:]) if cursor else None
        after, before = (epoch(q[k]) if k in q else None
                         for k in ("created_after", "created_before"))
    except ValueError:
        return problem(400, "Bad request", "Invalid cursor, created_after or created_before.")
    size = max(1, int(setting("page_size", 100)))
    with STATE:
        ops = sorted((op for op in OPS.values() if op["provider"] == "replicate"),
                     key=lambda op: -op["seq"])
    ops = [op for op in ops
           if (before_seq is None or op["seq"] < before_seq)
           and (after is None or op["created"] > after)
           and (before is None or op["created"] < before)]
    page, now, nxt = ops[:size], time.time(), None
    if len(ops) > size:
        params = {k: q[k] for k in ("created_after", "created_before") if k in q}
        params["cursor"] = r_cursor(page[-1]["seq"])
        nxt = f"http://{API_HOST}:{PORT}/v1/predictions?{urlencode(params)}"
    return rjson(200, {"next": nxt, "previous": None,
                       "results": [r_prediction(op, now) for op in page]})


def split_multipart(body, boundary):
    """name -> (bytes, filename, content type) of a multipart/form-data body."""
    parts = {}
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        hdrs = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip():
                hdrs[k.strip().lower()] = v.strip()
        disp = hdrs.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disp)
        fname = re.search(r'\bfilename="([^"]*)"', disp)
        if name:
            parts[name[1]] = (data, fname[1] if fname else None, hdrs.get("content-type"))
    return parts


def r_upload(h):
    """POST files, multipart: content (required), type, filename, metadata [doc R1]."""
    m = re.search(r'boundary="?([^";]+)"?', h.headers.get("Content-Type", ""))
    if not h.headers.get("Content-Type", "").startswith("multipart/form-data") or not m:
        return problem(400, "Bad request", "Expected multipart/form-data.")
    parts = split_multipart(h.read_body(), m[1].encode())
    if "content" not in parts:
        return problem(422, "Input validation failed", "content: this field is required")
    data, fname, ctype = parts["content"]
    field = lambda k: parts[k][0].decode("utf-8", "replace") if k in parts else None
    name = field("filename") or fname or "file"
    if len(name.encode()) > 255:
        return problem(422, "Input validation failed", "filename: at most 255 bytes")
    try:
        meta = json.loads(field("metadata") or "{}")
    except ValueError:
        return problem(422, "Input validation failed", "metadata: not valid JSON")
    fid, now = rand_id(26), time.time()
    md5 = hashlib.md5(data).hexdigest()
    obj = {"id": fid, "name": name,
           "content_type": field("type") or ctype or "application/octet-stream",
           "size": len(data), "etag": md5,
           "checksums": {"sha256": hashlib.sha256(data).hexdigest(), "md5": md5},
           "metadata": meta, "created_at": iso(now),
           "expires_at": iso(now + 86400),   # ours: one day; the doc gives no lifetime
           "urls": {"get": f"http://{API_HOST}:{PORT}/v1/files/{fid}"}}
    with STATE:
        FILES[fid] = (obj, data)
    return rjson(201, obj)


def r_file(fid, method):
    with STATE:
        f = FILES.pop(fid, None) if method == "DELETE" else FILES.get(fid)
    if not f:
        return r_not_found()
    return Reply(204) if method == "DELETE" else rjson(200, f[0])


# ---------------------------------------------------------------- faults, delivery, control

def fault_reply(provider, f):
    """The answer a submit fault stands for."""
    st, delay = int(f["status"]), f.get("retry_after", 30)
    hdrs = [("Retry-After", seconds(delay))] if f.get("header") else []
    if provider == "gemini":
        if st == 429:
            return g_quota(bool(f.get("daily")), delay, hdrs)
        return gerror(st, headers=hdrs)
    if st == 429 and f.get("daily"):
        # Ours: a per-day quota has no replicate twin; out of credit is the
        # replicate failure that no retry clears, so we answer that.
        return problem(402, "Insufficient credit",
                       "You have insufficient credit to run this model. Go to "
                       "https://replicate.com/account/billing#billing to purchase credit. "
                       "Once you purchase credit, please wait a few minutes before trying again.")
    if st == 429:   # [issue R10][issue R11] the 2026 body; [doc R9] the detail text
        return rjson(429, {"detail": "Request was throttled. Your rate limit for creating "
                           "predictions is reduced to 6 requests per minute with a burst of 1 "
                           "requests while you have less than $5.0 in credit. Your rate limit "
                           f"resets in ~{seconds(delay)}s.", "status": 429, "retry_after": delay},
                     hdrs)
    if st == 400:
        return problem(422, "Input validation failed", "input: invalid value (stand-in fault)")
    return r_fault(st, hdrs)


def poll_fault(provider):
    f = take("poll_faults")
    if not f:
        return None
    st = int(f.get("status", 500))
    return gerror(st) if provider == "gemini" else r_fault(st)


def r_fault(status, headers=()):
    return problem(status, R_TITLE.get(status, "Error"),
                   "The stand-in was told to fail this request.", headers)


def delivery(h):
    """Videos on another host, no credentials needed."""
    now = time.time()
    if m := re.fullmatch(r"/blob/([a-z0-9]+)\.mp4", h.route):
        op = find_op("gemini", "file", m[1])
    elif m := re.fullmatch(r"/delivery/([a-z0-9]+)/output\.mp4", h.route):
        op = OPS.get(m[1])
        op = op if op and op["provider"] == "replicate" else None
    else:
        op = None
    if h.command not in ("GET", "HEAD") or not op or phase(op, now) != "ended" \
            or op["outcome"] != "ok":
        return text(404, "Not Found")
    r = Reply(200, video_bytes(), "video/mp4")
    r.stream = setting("blob", None)
    return r


def send_stream(h, r):
    """A hostile body (control.json's blob), bounded to 40 s."""
    end = time.time() + 40
    if r.stream == "endless":
        h.send_header("Connection", "close")
        h.end_headers()
        chunk = b"\0" * 65536
        while time.time() < end:
            h.wfile.write(chunk)
    else:
        h.send_header("Content-Length", str(len(r.body)))
        h.end_headers()
        for i in range(len(r.body)):
            if time.time() >= end:
                break
            h.wfile.write(r.body[i:i + 1])
            h.wfile.flush()
            time.sleep(0.5)
    h.close_connection = True


def control(h):
    now = time.time()
    if h.route == "/_control/operations" and h.command == "GET":
        with STATE:
            ops = sorted(OPS.values(), key=lambda op: op["seq"])
        return rjson(200, [op_summary(op, now) for op in ops])
    m = re.fullmatch(r"/_control/finish/([a-z0-9]+)", h.route)
    if m and h.command == "POST" and m[1] in OPS:
        with STATE:
            op = OPS[m[1]]
            if phase(op, now) in ("starting", "processing"):
                op["outcome"], op["end"] = "ok", now
        return rjson(200, op_summary(op, now))
    return text(404, "no such control call")


# ---------------------------------------------------------------- HTTP

def provider_of(path):
    for prefix, name in (("/v1beta/", "gemini"), ("/v1/", "replicate"), ("/blob/", "delivery"),
                         ("/delivery/", "delivery"), ("/_control/", "control")):
        if path.startswith(prefix):
            return name
    return None


def route(h):
    host = h.headers.get("Host", "").rsplit(":", 1)[0].lower()
    if h.provider == "control":
        return control(h)
    if h.provider == "delivery":   # only on the other host
        return delivery(h) if host == OTHER_HOST else text(404, "Not Found")
    if host != API_HOST:   # ours: the APIs answer on their own host only
        return text(404, "Not Found")
    if h.provider == "gemini":
        return gemini(h)
    if h.provider == "replicate":
        return replicate(h)
    return text(404, "Not Found")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "videoapi-standin"
    # Headers and body go out in two writes: without TCP_NODELAY the body
    # waits for the client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def parse_request(self):
        self.t0, self.body = time.time(), None   # the request line was just read
        return super().parse_request()

    def read_body(self):
        if self.body is None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.body = self.read_chunked()
            else:
                n = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(n) if n > 0 else b""
        return self.body

    def read_chunked(self):
        out = []
        while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
            out.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):   # trailers
            pass
        return b"".join(out)

    def json_body(self):
        try:
            return json.loads(self.read_body())
        except ValueError:
            return None

    def log(self, status):
        hdrs = {}
        for k, v in self.headers.items():
            k = k.lower()
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs else v
        rec = {"t": self.t0, "conn": "%s:%s" % self.client_address[:2], "method": self.command,
               "path": self.path, "host": self.headers.get("Host"), "headers": hdrs,
               "body_len": len(self.body or b""), "status": status, "provider": self.provider}
        line = (json.dumps(rec) + "\n").encode()
        with LOG:
            os.write(LOG_FD, line)

    def handle_request(self):
        u = urlsplit(self.path)
        self.route, self.query = u.path, parse_qs(u.query)
        self.provider = provider_of(self.route)
        try:
            r = route(self)
        except Exception:
            traceback.print_exc()
            r = text(500, "stand-in error")
        if r is None:   # a "close" fault: no body read, no answer
            self.close_connection = True
            self.log(None)
            return
        try:
            self.read_body()   # drain what the route did not read: keep-alive
            self.log(r.status)
            time.sleep(r.delay)   # a "hang" fault: the work is done, the answer late
            self.send_response(r.status)
            for k, v in r.headers:
                self.send_header(k, v)
            if r.stream and self.command == "GET":
                send_stream(self, r)
                return
            self.send_header("Content-Length", str(len(r.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(r.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_request


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    global DIR, KEY, PORT, LOG_FD
    if len(sys.argv) != 2:
        sys.exit("usage: videoapi.py DIR")
    DIR = sys.argv[1]
    with open(os.path.join(DIR, "key")) as f:
        KEY = f.read().strip()
    server = Server((API_HOST, 0), Handler)
    PORT = server.server_address[1]
    LOG_FD = os.open(os.path.join(DIR, "requests.jsonl"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    write_atomic("pid", f"{os.getpid()}\n")
    write_atomic("port", f"{PORT}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
