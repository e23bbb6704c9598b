/*
 * provider.h - what one hosted video API says, for the http backend's
 * one long-running-operation client (backend_http.c): how to start an
 * operation, read it, cancel it, and what its errors mean.  A provider
 * is one table; the client does the requests, retries and downloads.
 *
 * Providers: "gemini" (provider_gemini.c, Google's Gemini API for Veo)
 * and "replicate" (provider_replicate.c, Replicate's predictions API).
 * Their protocol facts, with sources, are in cosmos(7) and in the
 * comments of their files.
 */
#ifndef COSMOS_PROVIDER_H
#define COSMOS_PROVIDER_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "backend.h"

/* What a finished or failed call means, as a record's reason_code. */
struct verdict {
	char reason[200];
	char code[32];
};

#define RETRY_NEVER (-1.0)
#define RETRY_UNSAID (-2.0)

struct provider {
	const char *name;
	const char *url;         /* the documented API base */
	const char *cred_hosts;  /* the hosts its credentials may go to */
	const char *auth_header, *auth_prefix;
	const char *model_generate, *model_upscale; /* defaults; NULL: none */
	/* Why this provider cannot run model_type, or NULL. */
	const char *(*refuses)(const char *model_type);
	/*
	 * The submit: a path under the base URL (caller frees) and its JSON
	 * body, for model (the provider's model name) and the job the model
	 * reads (job.h: spec with staged inputs).  NULL with why.
	 */
	char *(*submit)(const char *model_type, const char *model, const cJSON *spec, cJSON **body,
	    char *why, size_t len);
	/* From a 2xx submit answer: the operation's handle (caller frees),
	 * and what else the record keeps into job; NULL: no handle in it. */
	char *(*handle)(const cJSON *answer, cJSON *job);
	/* The URL path (under the base) that reads an operation. */
	char *(*op_path)(const char *handle);
	/*
	 * An operation as read into it: state, code, reason, reason_code;
	 * for a finished one with videos, their URLs into urls.
	 */
	void (*read_op)(const cJSON *op, struct poll_item *it, cJSON *urls);
	/* Optional: a list endpoint, many operations a page.  The first
	 * page's path for operations created after the time (RFC 3339);
	 * a page's operations and its next page's URL (or NULL). */
	char *(*list_path)(const char *created_after);
	const cJSON *(*list_items)(const cJSON *page, const char **next);
	const char *(*op_handle)(const cJSON *op);
	/* The path that cancels an operation; NULL: the provider has none. */
	char *(*cancel_path)(const char *handle);
	/* A 429's wait in seconds from its body; RETRY_NEVER: a quota that
	 * does not clear by waiting (a daily one); RETRY_UNSAID: none given. */
	double (*retry_after)(const cJSON *body);
	/* What an error answer (status, body) means. */
	void (*error)(long status, const cJSON *body, struct verdict *v);
	/* Optional: file uploads.  The path to POST a file to; and from the
	 * answer, the URL a request names it by (caller frees), or NULL. */
	const char *upload_path;
	char *(*uploaded)(const cJSON *answer);
	/* The text of an operation's log, or NULL when it keeps none. */
	const char *(*log_text)(const cJSON *op);
};

extern const struct provider provider_gemini, provider_replicate;

/* The provider called name, or NULL. */
const struct provider *provider_find(const char *name);

/* A message from an error body: its "message", "detail" or "title", or
 * "HTTP N" (into v->reason, after what). */
void provider_message(long status, const cJSON *body, const char *msg, struct verdict *v);

#endif
