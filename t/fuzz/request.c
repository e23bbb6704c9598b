/*
 * request.c - fuzz request lines as cosmos-submit and cosmos-batch read
 * them: standard input split into items (input.c), each parsed as JSON
 * (parse_line), its id taken (item_id), checked (job_check), turned into
 * what the model reads and job.sh (job_of, job_script), and the good
 * ones packed into one batch request (packed_request).
 */
#define _GNU_SOURCE
#include "fuzz.h"
#include "input.h"
#include "job.h"
#include "packed.h"
#include "record.h"

#include <sys/mman.h>
#include <unistd.h>

enum { MAX_REQS = 64 };

static int stdin_fd = -1;

/* Standard input is a memory file holding data, read from its start. */
static void feed_stdin(const uint8_t *data, size_t size)
{
	if (stdin_fd < 0 && (stdin_fd = memfd_create("stdin", 0)) < 0)
		abort();
	if (ftruncate(stdin_fd, 0) < 0 || pwrite(stdin_fd, data, size, 0) != (ssize_t)size ||
	    dup2(stdin_fd, STDIN_FILENO) < 0 || lseek(STDIN_FILENO, 0, SEEK_SET) < 0)
		abort();
}

/* One line as both programs take it; a good request is kept in reqs. */
static void check_line(const char *line, cJSON **reqs, int *n)
{
	char id[ID_LEN + 1];
	cJSON *obj = NULL;
	if (!item_id(line, ID_BAD, id, &obj))
		cJSON_Delete(obj);
	const char *why;
	cJSON *req = parse_line(line, &why);
	if (!cJSON_IsObject(req) || job_check(req) || *n == MAX_REQS) {
		cJSON_Delete(req);
		return;
	}
	cJSON *job = job_of(req);
	free(job_script(jstr(req, "model_type"), job, jget(req, "execution_config"), JOB_END));
	cJSON_Delete(job);
	reqs[(*n)++] = req;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed_stdin(data, size);
	struct items it;
	if (items_init(&it, 0, NULL) < 0)
		abort();
	cJSON *reqs[MAX_REQS];
	int n = 0, bad;
	const char *line, *why;
	while ((line = items_next(&it)))
		check_line(line, reqs, &n);
	items_free(&it);
	if (n)
		cJSON_Delete(packed_request(reqs, n, &bad, &why));
	for (int i = 0; i < n; i++)
		cJSON_Delete(reqs[i]);
	return 0;
}
