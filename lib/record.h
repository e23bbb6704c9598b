/*
 * record.h - run and prompt records (fields in cosmos(7)) and small cJSON
 * conveniences.
 *
 * Status moves only forward: pending -> submitted -> running -> one of
 * completed, failed, cancelled.  A terminal status is never left.
 */
#ifndef COSMOS_RECORD_H
#define COSMOS_RECORD_H

#include <cjson/cJSON.h>

/* New records with a fresh id, timestamps and empty sub-objects. */
cJSON *run_new(const char *model_type);
cJSON *prompt_new(void);

int status_known(const char *s);
int status_terminal(const char *s);
/* May a record move from one status to another? */
int status_may_move(const char *from, const char *to);

/*
 * A store_fn (store.h): merge the cJSON object arg into the record, objects
 * member by member.  A record in a terminal status is left alone, and so
 * is one whose status may not move forward to the patch's, including a
 * patch to the status it already has (STORE_KEEP): of several processes
 * making the same move, one does.
 */
int record_patch(cJSON *rec, void *patch);

/* Typed lookups that return NULL / fallback when absent or of another type. */
const char *jstr(const cJSON *obj, const char *key);
double jnum(const cJSON *obj, const char *key, double fallback);
/* The object member key, or NULL when absent or not an object. */
const cJSON *jget(const cJSON *obj, const char *key);
/* The object member key, added empty when absent or not an object. */
cJSON *jobj(cJSON *obj, const char *key);
/* Replace (or add) a member. */
void jset(cJSON *obj, const char *key, cJSON *val);
void jset_str(cJSON *obj, const char *key, const char *val);
void jset_num(cJSON *obj, const char *key, double val);

#endif
