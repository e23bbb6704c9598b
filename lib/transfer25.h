/*
 * transfer25.h - requests for NVIDIA Cosmos-Transfer2.5 (a host's engine =
 * transfer2.5): our transfer request becomes upstream's spec, the one
 * examples/inference.py reads (-i SPEC), or is refused before anything is
 * sent.  The facts of upstream's interface, each with its file and line,
 * are stated in t/upstream25/examples/inference.py.
 *
 * Invariants: a spec holds only keys upstream's model accepts (it forbids
 * the others); every number it holds is of upstream's type (guidance a
 * whole 0-7, sigma_max a string); a request that cannot be said that way
 * is refused with its reason, never changed into another; every path is
 * relative to the spec's own folder, outputs/run_ID/ in the work dir
 * (cosmos-job writes it there as spec_used.json), as upstream resolves
 * them; the one sample of a run is named T25_NAME, so upstream writes
 * OUT/output.mp4, the name every engine's transfer gives its video; a
 * packed batch's child i is named video_<i> (T25_BATCH_NAME), one sample
 * a line of one .jsonl, and the engine moves OUT/video_<i>.mp4 to
 * OUT/video_<i>/output.mp4, where every packed batch's child finds it.
 */
#ifndef COSMOS_TRANSFER25_H
#define COSMOS_TRANSFER25_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define T25_ENGINE "transfer2.5"
#define T25_NAME "output"
#define T25_BATCH_NAME "video_%d"

/* Is engine (a host's engine key or COSMOS_ENGINE, NULL for none) ours? */
int t25_is_engine(const char *engine);

/* Why a transfer2.5 host cannot run request req (upscale, enhance; a
 * guidance upstream does not take, ...; for a packed batch, the first
 * item it cannot run, and why), or NULL.  The text is
 * in a static buffer, good until the next call. */
const char *t25_refuses(const cJSON *req);

/* Upstream's spec for a request t25_refuses accepts, from its spec with
 * every path already staged (a place in the work dir) and its
 * execution_config ec (whose "given" says whether a guidance 5 or a
 * sigma_max 70 was asked for or is Transfer1's default); caller frees. */
cJSON *t25_spec(const cJSON *staged, const cJSON *ec);

/* Upstream's samples for a packed batch (model_type batch) t25_refuses
 * accepts, from its shared spec and items with every path staged, and
 * its execution_config ec as for t25_spec: the i-th named video_<i>, in
 * the items' order; caller frees. */
cJSON *t25_batch(const cJSON *staged, const cJSON *items, const cJSON *ec);

/* The --model samples need: the one control they all use, or NULL. */
const char *t25_batch_model(const cJSON *samples);

/* The --model that spec needs: its one control's, or NULL for several
 * (upstream then loads its multicontrol model itself). */
const char *t25_model(const cJSON *spec);

#endif
