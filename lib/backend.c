/* backend.c - the kinds of backend, one line each; see backend.h. */
#include "backend.h"
#include "record.h"

#include <string.h>

extern const struct backend backend_docker, backend_local, backend_slurm, backend_http;

static const struct backend *const kinds[] = {&backend_docker, &backend_local, &backend_slurm, &backend_http, NULL};

const struct backend *backend_find(const char *name)
{
	for (int i = 0; kinds[i]; i++)
		if (!name || !strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}

const char *backend_names(void)
{
	return "docker, local, slurm, http";
}

const char *job_handle(const cJSON *rec)
{
	const cJSON *job = jget(rec, "job");
	const char *h = jstr(job, "handle");
	return h ? h : jstr(job, "container");
}
