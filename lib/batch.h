/*
 * batch.h - a batch parent's status follows its children: running while
 * any is unfinished (once one has started), completed when all completed,
 * failed with the counts otherwise.
 */
#ifndef COSMOS_BATCH_H
#define COSMOS_BATCH_H

#include <cjson/cJSON.h>

/* Is this record a batch parent (model_type batch or enhance_batch)? */
int batch_is_parent(const cJSON *rec);

/*
 * The patch for a parent from its children's records as they are now
 * (NULL: nothing to change); *moving is the number of children started
 * and not yet finished.
 */
cJSON *batch_parent_patch(const cJSON *parent, int *moving);

#endif
