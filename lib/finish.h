/*
 * finish.h - what a finished job left on its host, recorded: its files
 * downloaded into the store, and its outcome applied once, under the
 * run's lock.  A packed batch's video_<i>/ files go to its children.
 */
#ifndef COSMOS_FINISH_H
#define COSMOS_FINISH_H

#include <cjson/cJSON.h>
#include "backend.h"
#include "remote.h"

/*
 * The patch for a run from its backend's answer to poll (backend.h).
 * NULL: nothing to change (queued for the same reason as recorded in
 * job.queue_reason; running and already so; no status, which callers
 * report).  A queued run's patch holds only its new job.queue_reason.
 * An ended job is completed or failed by its exit code; one that ended without a code, is gone ("lost:
 * ...") or gave an answer this cannot read is failed with the reason.
 */
cJSON *finish_judge(const struct poll_item *a, const cJSON *rec);

/* A name a host gave for an output file: NAME or DIR/NAME, each part a
 * plain name (no leading dot, no control characters). */
int finish_safe_name(const char *name);

/*
 * A video's quality facts into out, from ffprobe: width, height,
 * duration (s), fps and codec.  Nothing when ffprobe cannot tell: the
 * facts are a convenience, never a reason to fail a run.
 */
void finish_probe_video(const char *path, cJSON *out);

/*
 * Download a finished run's files (a list of {name, size}) into its
 * directory in the store and fill patch: outputs.files (name: size),
 * outputs.video, outputs.log; for an enhance run outputs.enhanced_prompt,
 * or status failed with a reason.  For a packed batch parent, video_<i>/
 * goes to child i's directory and kids (an array) receives one patch per
 * child in batch order.  0, or an exit code class when a download failed
 * (said on stderr): then nothing is to be recorded, and a later sync
 * tries again.
 */
int finish_fetch(struct remote *r, const cJSON *rec, const cJSON *files, cJSON *patch, cJSON *kids);

/*
 * A store_update() callback: apply the patch (a cJSON *) to a run that
 * is not finished yet.  A completed enhance run's outputs.enhanced_prompt
 * is applied to its prompt first (enhance_apply), so exactly once.
 */
int finish_run(cJSON *rec, void *patch);

#endif
