/*
 * packed.h - packed batches: every child of a batch in one container, so
 * that the model loads once (cosmos-batch --packed).
 *
 * Children's transfer requests become one "batch" request:
 *	spec         the controlnet spec the children share: every control
 *	             any child uses, and the parameters, which must agree
 *	batch_input  one item per child, in batch order:
 *	             {prompt, visual_input, control_overrides}; a control the
 *	             child does not use is overridden with weight 0
 * and the model writes video_<i>/output.mp4 for child i.  Children's
 * enhance requests become one "enhance_batch" request whose spec is their
 * lists joined; batch_results.json names each result by prompt id.
 */
#ifndef COSMOS_PACKED_H
#define COSMOS_PACKED_H

#include <cjson/cJSON.h>

/*
 * The packed request for reqs[0..n) (model_type batch or enhance_batch;
 * run_id is the caller's), or NULL with *bad the index of the first
 * request that cannot join and *why the reason.
 */
cJSON *packed_request(cJSON *const *reqs, int n, int *bad, const char **why);

/*
 * The child an output file belongs to: name "video_<i>/REST" with
 * i < size gives i and *rest; anything else -1.
 */
int packed_index(const char *name, int size, const char **rest);

/* Is rec a batch parent whose children run in its container? */
int packed_parent(const cJSON *rec);

/* The parent of a packed child, NULL for any other run. */
const char *packed_parent_of(const cJSON *rec);

#endif
