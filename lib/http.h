/*
 * http.h - HTTP for the http backend, on libcurl: every request of a
 * host goes through one libcurl multi handle, whose pool keeps one
 * connection to each server (requests are multiplexed where the server
 * speaks HTTP/2, and go one after another on the kept-alive connection
 * over HTTP/1.1).
 *
 * Credentials: the key is read from its file when a request first needs
 * it (never from argv or the environment) and is sent, in the provider's
 * header, only to the credential hosts (exact names, or "*.domain"), and
 * only over https or to loopback.  Redirects are never followed by
 * libcurl: http_download follows them by hand and sends the key on no
 * hop whose host is not a credential host (libcurl would drop only
 * Authorization and Cookie, never a custom header such as
 * x-goog-api-key).  No message made here holds the key.
 */
#ifndef COSMOS_HTTP_H
#define COSMOS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "shell.h"

struct http;

struct http_conf {
	const char *key_file;
	const char *auth_header; /* "x-goog-api-key" or "Authorization" */
	const char *auth_prefix; /* "" or "Bearer " */
	const char *cred_hosts;  /* blank-separated names */
	int connect_timeout, io_timeout; /* seconds */
	long max_download_mb;    /* a video larger than this is refused */
};

/* A host's HTTP: its pool and credentials.  Nothing is sent yet; NULL when
 * libcurl cannot start.  Nothing here ends the process: each failure is
 * the request's or the download's. */
struct http *http_new(const struct http_conf *c);
void http_free(struct http *h);

/* Connections opened and requests made so far (for benchmarks). */
long http_connections(const struct http *h);
long http_requests(const struct http *h);

/* May url be requested at all: https, or http to a loopback address?
 * 0, or -1 with why. */
int http_url_ok(const char *url, char *why, size_t len);

/* The host name of url, or "" (caller frees). */
char *http_host(const char *url);

/* Is url's host one the credentials may go to (and over https or
 * loopback): one of h's, or of the blank-separated cred_hosts? */
int http_is_cred_host(const struct http *h, const char *url);
int http_cred_url(const char *cred_hosts, const char *url);

/* Load the key now; 0, or -1 with why (no key in it). */
int http_key_check(struct http *h, char *why, size_t len);

struct http_req {
	/* in */
	const char *method;      /* "GET", "POST" */
	const char *url;
	const char *body;        /* JSON, or NULL */
	const char *upload_file; /* or: multipart "content" from this file */
	const char *upload_name; /* its filename */
	int anonymous;           /* send no key, whatever the host */
	/* out */
	long status;             /* 0: no answer */
	int sent;                /* the request may have reached the server */
	int transport;           /* a transport failure (no HTTP answer) */
	double retry_after;      /* a Retry-After header in seconds, or -1 */
	struct sbuf body_out;
	char err[256];           /* the transport's failure, for messages */
	/* private */
	void *priv;
};

/*
 * Make every request of v[0..n) at once over the pool; each gets its
 * answer or failure.  The key goes with those to credential hosts; a
 * key that cannot be read fails each such request (err, status 0, not
 * sent) before anything is sent.
 */
void http_run(struct http *h, struct http_req **v, size_t n);
void http_req_free(struct http_req *q);

/* A header line as libcurl gives it (len bytes, not NUL-terminated): the
 * seconds of a "Retry-After: N" header, or -1 for any other line. */
double http_retry_after(const char *data, size_t len);

/*
 * GET url into path: written under a hidden name beside it, checked
 * against Content-Length, fsynced, renamed, the directory fsynced;
 * redirects followed by hand (at most 5), the key sent to credential
 * hosts only.  0 with *size; else -1 with why and *gone set when the
 * server says the file is not there (404, 410) or the URL itself is
 * refused (so that trying again cannot help).
 */
int http_download(struct http *h, const char *url, const char *path, uint64_t *size, int *gone, char *why,
    size_t len);

/* Replace every copy of the key in text (a message made from an
 * answer) with "[key]". */
void http_scrub(const struct http *h, char *text);

#endif
