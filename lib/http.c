/* http.c - HTTP over one libcurl multi handle per host; see http.h. */
#define _GNU_SOURCE
#include "http.h"
#include "util.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct http {
	CURLM *m;
	struct http_conf c;
	char *cred;      /* cred_hosts, copied */
	char *key;       /* loaded at first use; wiped at the end */
	long connects, requests;
};

/* What a request in flight carries besides its struct http_req. */
struct flight {
	CURL *e;
	int done;        /* its outcome is in the request */
	struct curl_slist *hdr;
	curl_mime *mime;
	char *auth;      /* the key's header line, wiped after */
};

static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

struct http *http_new(const struct http_conf *c)
{
	static int inited;
	if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return NULL;
	inited = 1;
	CURLM *m = curl_multi_init();
	if (!m)
		return NULL;
	struct http *h = xmalloc(sizeof *h);
	*h = (struct http){.c = *c, .m = m};
	h->cred = xstrdup(c->cred_hosts ? c->cred_hosts : "");
	/* One connection per server: HTTP/2 multiplexes on it, HTTP/1.1
	 * requests wait their turn on the kept-alive one. */
	curl_multi_setopt(h->m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
	curl_multi_setopt(h->m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	curl_multi_cleanup(h->m);
	wipe_free(h->key);
	free(h->cred);
	free(h);
}

long http_connections(const struct http *h)
{
	return h->connects;
}

long http_requests(const struct http *h)
{
	return h->requests;
}

/* url's scheme and host (lowercase), or -1. */
static int url_parts(const char *url, char **scheme, char **host)
{
	CURLU *u = curl_url();
	*scheme = *host = NULL;
	int bad = !u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	          curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
	          curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK;
	curl_url_cleanup(u);
	if (bad) {
		curl_free(*scheme);
		curl_free(*host);
		*scheme = *host = NULL;
		return -1;
	}
	for (char *p = *host; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	return 0;
}

/*
 * Is host this machine: the name localhost, or an IP literal in
 * 127.0.0.0/8 or ::1?  A name that only begins with "127." is not.
 */
static int loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char v6[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	if (!strcmp(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n > 2 && n < sizeof v6 && host[0] == '[' && host[n - 1] == ']') {
		memcpy(v6, host + 1, n - 2);
		v6[n - 2] = '\0';
		return inet_pton(AF_INET6, v6, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

int http_url_ok(const char *url, char *why, size_t len)
{
	char *scheme, *host;
	if (url_parts(url, &scheme, &host) < 0) {
		snprintf(why, len, "'%s' is not a URL", shown(url));
		return -1;
	}
	int ok = !strcmp(scheme, "https") || (!strcmp(scheme, "http") && loopback(host));
	if (!ok)
		snprintf(why, len, "'%s' is neither https nor http to this machine (loopback)", shown(url));
	curl_free(scheme);
	curl_free(host);
	return ok ? 0 : -1;
}

char *http_host(const char *url)
{
	char *scheme, *host;
	if (url_parts(url, &scheme, &host) < 0)
		return xstrdup("");
	char *h = xstrdup(host);
	curl_free(scheme);
	curl_free(host);
	return h;
}

/* Does host match one of the blank-separated names ("*.d" matches under d)? */
static int in_list(const char *list, const char *host)
{
	size_t hl = strlen(host);
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, " \t,");
		if (n >= 2 && p[0] == '*' && p[1] == '.') {
			size_t d = n - 1; /* ".domain" */
			if (hl > d && !strncasecmp(host + hl - d, p + 1, d))
				return 1;
		} else if (n && n == hl && !strncasecmp(p, host, n))
			return 1;
		p += n;
		p += strspn(p, " \t,");
	}
	return 0;
}

int http_cred_url(const char *cred_hosts, const char *url)
{
	char *scheme, *host;
	if (url_parts(url, &scheme, &host) < 0)
		return 0;
	int ok = in_list(cred_hosts, host) && (!strcmp(scheme, "https") || (!strcmp(scheme, "http") && loopback(host)));
	curl_free(scheme);
	curl_free(host);
	return ok;
}

int http_is_cred_host(const struct http *h, const char *url)
{
	return http_cred_url(h->cred, url);
}

/* The key from its file: a private regular file, its first line. */
int http_key_check(struct http *h, char *why, size_t len)
{
	if (h->key)
		return 0;
	const char *path = h->c.key_file;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
	struct stat st;
	if (!path) {
		snprintf(why, len, "the host has no key_file");
		return -1;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, len, "key_file %s: %s", shown(path), strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* As ssh refuses a private key others can read. */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		snprintf(why, len, "key_file %s: %s", shown(path),
		    S_ISREG(st.st_mode) ? "others may read or write it: chmod 600 it" : "not a regular file");
		close(fd);
		return -1;
	}
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0) {
		snprintf(why, len, "key_file %s: %s", shown(path), strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	size_t k = strcspn(buf, "\r\n");
	while (k && (buf[k - 1] == ' ' || buf[k - 1] == '\t'))
		k--;
	size_t s = strspn(buf, " \t");
	int bad = k <= s;
	for (size_t i = s; i < k && !bad; i++)
		bad = (unsigned char)buf[i] <= 0x20 || buf[i] == 0x7f;
	if (bad)
		snprintf(why, len, "key_file %s: %s", shown(path), k <= s ? "holds no key" : "the key has a blank or a control character");
	else
		h->key = xasprintf("%.*s", (int)(k - s), buf + s);
	explicit_bzero(buf, sizeof buf);
	return bad ? -1 : 0;
}

void http_scrub(const struct http *h, char *text)
{
	if (!h || !h->key || !*h->key)
		return;
	size_t kl = strlen(h->key);
	char *p;
	while ((p = strstr(text, h->key))) {
		memcpy(p, "[key]", 5);
		memmove(p + 5, p + kl, strlen(p + kl) + 1);
	}
}

/* The key's header line for a request to url, into *hdr (*line keeps
 * it, to be wiped), where url may have it; 0, or -1 with why. */
static int add_auth(struct http *h, const char *url, struct curl_slist **hdr, char **line, char *why, size_t len)
{
	*line = NULL;
	if (!http_is_cred_host(h, url))
		return 0;
	if (http_key_check(h, why, len) < 0)
		return -1;
	*line = xasprintf("%s: %s%s", h->c.auth_header, h->c.auth_prefix, h->key);
	*hdr = curl_slist_append(*hdr, *line);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *q = arg;
	if (q->body_out.len < (64u << 20)) /* answers are small; a runaway one is cut */
		sb_add(&q->body_out, data, size * n);
	return size * n;
}

double http_retry_after(const char *data, size_t len)
{
	if (len > 12 && !strncasecmp(data, "retry-after:", 12)) {
		char v[32];
		snprintf(v, sizeof v, "%.*s", (int)(len - 12 < 31 ? len - 12 : 31), data + 12);
		double d;
		char *t = v + strspn(v, " \t");
		t[strcspn(t, "\r\n ")] = '\0';
		if (parse_double(t, &d) == 0 && d >= 0)
			return d;
	}
	return -1;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *q = arg;
	size_t len = size * n;
	double d = http_retry_after(data, len);
	if (d >= 0)
		q->retry_after = d;
	return len;
}

/* An easy handle for q with its headers (the key only to credential hosts). */
static int prepare(struct http *h, struct http_req *q)
{
	struct flight *f = xmalloc(sizeof *f);
	*f = (struct flight){0};
	q->priv = f;
	q->status = 0;
	q->sent = q->transport = 0;
	q->retry_after = -1;
	q->body_out.len = 0;
	*q->err = '\0';
	char why[256];
	if (http_url_ok(q->url, why, sizeof why) < 0) {
		snprintf(q->err, sizeof q->err, "%s", why);
		return -1;
	}
	if (!q->anonymous && add_auth(h, q->url, &f->hdr, &f->auth, why, sizeof why) < 0) {
		snprintf(q->err, sizeof q->err, "%s", why);
		return -1;
	}
	CURL *e = f->e = curl_easy_init();
	if (!e) {
		q->transport = 1;
		snprintf(q->err, sizeof q->err, "libcurl cannot make a request");
		return -1;
	}
	f->hdr = curl_slist_append(f->hdr, "Accept: application/json");
	f->hdr = curl_slist_append(f->hdr, "Expect:");
	if (q->body) {
		f->hdr = curl_slist_append(f->hdr, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, q->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(q->body));
	} else if (q->upload_file) {
		f->mime = curl_mime_init(e);
		curl_mimepart *p = curl_mime_addpart(f->mime);
		curl_mime_name(p, "content");
		curl_mime_filedata(p, q->upload_file);
		curl_mime_filename(p, q->upload_name);
		curl_mime_type(p, "application/octet-stream");
		curl_easy_setopt(e, CURLOPT_MIMEPOST, f->mime);
	}
	curl_easy_setopt(e, CURLOPT_URL, q->url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
	if (!strcmp(q->method, "POST") && !q->body && !q->upload_file)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdr);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cosmos/" COSMOS_VERSION);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)h->c.connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)h->c.io_timeout);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(e, CURLOPT_PRIVATE, q);
	return 0;
}

static void release(struct http_req *q)
{
	struct flight *f = q->priv;
	if (!f)
		return;
	if (f->e)
		curl_easy_cleanup(f->e);
	curl_mime_free(f->mime);
	curl_slist_free_all(f->hdr);
	wipe_free(f->auth);
	free(f);
	q->priv = NULL;
}

/* A finished transfer's outcome into q. */
static void finished(struct http *h, struct http_req *q, CURLcode cc)
{
	struct flight *f = q->priv;
	long conns = 0, reqsize = 0;
	curl_easy_getinfo(f->e, CURLINFO_NUM_CONNECTS, &conns);
	curl_easy_getinfo(f->e, CURLINFO_REQUEST_SIZE, &reqsize);
	h->connects += conns;
	if (cc == CURLE_OK) {
		curl_easy_getinfo(f->e, CURLINFO_RESPONSE_CODE, &q->status);
		q->sent = 1;
		return;
	}
	q->transport = 1;
	/* Nothing reached the server when the connection was never made. */
	q->sent = !(cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
	            cc == CURLE_COULDNT_RESOLVE_PROXY || reqsize == 0);
	snprintf(q->err, sizeof q->err, "%s", curl_easy_strerror(cc));
}

/*
 * Requests handed to libcurl at once: more wait their turn here, so that
 * a request's time-out (io_timeout) never runs while it waits behind a
 * thousand others on an HTTP/1.1 connection.
 */
#define WINDOW 64

/* The multi interface itself failed: every request not finished fails
 * with its message, as a transport failure; one handed to libcurl may
 * have been sent, the rest were not. */
static void fail_unfinished(struct http *h, struct http_req **v, size_t n, size_t next, CURLMcode mc)
{
	for (size_t i = 0; i < n; i++) {
		struct http_req *q = v[i];
		struct flight *f = q->priv;
		if (f && f->done)
			continue;
		if (f && f->e)
			curl_multi_remove_handle(h->m, f->e);
		q->status = 0;
		q->transport = 1;
		q->sent = i < next && f;
		snprintf(q->err, sizeof q->err, "libcurl: %s", curl_multi_strerror(mc));
	}
}

void http_run(struct http *h, struct http_req **v, size_t n)
{
	size_t added = 0, next = 0;
	int running = 1;
	for (;;) {
		while (added < WINDOW && next < n) {
			struct http_req *q = v[next++];
			if (prepare(h, q) < 0) {
				((struct flight *)q->priv)->done = 1;
				continue;
			}
			curl_multi_add_handle(h->m, ((struct flight *)q->priv)->e);
			added++;
			h->requests++;
		}
		if (!added)
			break;
		CURLMcode mc = curl_multi_perform(h->m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(h->m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct http_req *q = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&q);
			CURLcode cc = msg->data.result;
			curl_multi_remove_handle(h->m, msg->easy_handle);
			finished(h, q, cc);
			((struct flight *)q->priv)->done = 1;
			added--;
		}
		if (mc != CURLM_OK) {
			fail_unfinished(h, v, n, next, mc);
			break;
		}
		if (added && running)
			curl_multi_poll(h->m, NULL, 0, 1000, NULL);
	}
	for (size_t i = 0; i < n; i++)
		release(v[i]);
}

void http_req_free(struct http_req *q)
{
	if (!q)
		return;
	release(q);
	sb_free(&q->body_out);
}

/* --- downloads ---------------------------------------------------------- */

/* A download slower than this (bytes a second) for io_timeout seconds
 * fails: 100 kB at 2.5 B/s would take 11 hours. */
#define DL_MIN_RATE 1024

struct dl {
	int fd;          /* the hidden file */
	long status;     /* of the answer being read */
	uint64_t got, max;
	int werr, toobig;
	struct sbuf small; /* a refusal's body, for the message */
};

static size_t dl_header(char *data, size_t size, size_t n, void *arg)
{
	struct dl *d = arg;
	size_t len = size * n;
	long code;
	if (len > 9 && !strncmp(data, "HTTP/", 5) && sscanf(data, "HTTP/%*s %ld", &code) == 1)
		d->status = code;
	return len;
}

static size_t dl_body(char *data, size_t size, size_t n, void *arg)
{
	struct dl *d = arg;
	size_t len = size * n;
	if (d->status < 200 || d->status > 299) {
		if (d->small.len < 2048)
			sb_add(&d->small, data, len);
		return len;
	}
	if (d->got + len > d->max) {
		d->toobig = 1;
		return 0;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(d->fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			d->werr = errno ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	d->got += len;
	return len;
}

/* One hop of a download: its status, and where it redirects (*next). */
static int hop(struct http *h, const char *url, struct dl *d, char **next, char *why, size_t len)
{
	struct curl_slist *hdr = NULL;
	char *auth = NULL;
	*next = NULL;
	if (add_auth(h, url, &hdr, &auth, why, len) < 0)
		return -1;
	CURL *e = curl_easy_init();
	if (!e) {
		snprintf(why, len, "libcurl cannot make a request");
		curl_slist_free_all(hdr);
		wipe_free(auth);
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "cosmos/" COSMOS_VERSION);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)h->c.connect_timeout);
	/* A video may take long, but not at a trickle: slower than
	 * DL_MIN_RATE bytes a second for io_timeout seconds is a failure
	 * (the next sync tries again). */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)DL_MIN_RATE);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)h->c.io_timeout);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, dl_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, dl_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(e, CURLOPT_PRIVATE, d);
	d->status = 0;
	d->small.len = 0;
	/* Through the pool, so that the connection is the one polls use. */
	curl_multi_add_handle(h->m, e);
	h->requests++;
	int running = 1;
	CURLcode cc = CURLE_OK;
	CURLMcode mc = CURLM_OK;
	for (;;) {
		mc = curl_multi_perform(h->m, &running);
		CURLMsg *msg;
		int left, done = 0;
		while ((msg = curl_multi_info_read(h->m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
				cc = msg->data.result, done = 1;
		if (done || mc != CURLM_OK)
			break;
		curl_multi_poll(h->m, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(h->m, e);
	long conns = 0, status = 0;
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	h->connects += conns;
	curl_off_t clen = -1;
	curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
	char *loc = NULL;
	if (cc == CURLE_OK && status >= 300 && status < 400 && curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
		*next = xstrdup(loc);
	int rc = (int)status;
	if (mc != CURLM_OK) {
		snprintf(why, len, "libcurl: %s", curl_multi_strerror(mc));
		rc = -1;
	} else if (cc != CURLE_OK && d->toobig) {
		snprintf(why, len, "the video is larger than the host's max_download_mb (%llu MB)",
		    (unsigned long long)(d->max >> 20));
		rc = -1;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, len, "the video came slower than %d bytes a second for %d s", DL_MIN_RATE, h->c.io_timeout);
		rc = -1;
	} else if (cc != CURLE_OK) {
		snprintf(why, len, "%s", d->werr ? strerror(d->werr) : curl_easy_strerror(cc));
		rc = -1;
	} else if (status >= 200 && status < 300 && clen >= 0 && (uint64_t)clen != d->got) {
		/* A backstop: libcurl reports a body short of its Content-Length
		 * itself (CURLE_PARTIAL_FILE, above). */
		snprintf(why, len, "got %llu bytes of %lld", (unsigned long long)d->got, (long long)clen);
		rc = -1;
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(hdr);
	wipe_free(auth);
	return rc;
}

int http_download(struct http *h, const char *url, const char *path, uint64_t *size, int *gone, char *why,
    size_t len)
{
	*gone = 0;
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xasprintf("%.*s", (int)(slash - path), path) : xstrdup(".");
	char *tmp = part_name(path);
	struct dl d = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
	               .max = (uint64_t)(h->c.max_download_mb > 0 ? h->c.max_download_mb : 2048) << 20};
	char *cur = xstrdup(url), *next = NULL;
	int rc = -1, hops;
	if (d.fd < 0) {
		snprintf(why, len, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	for (hops = 0; hops <= 5; hops++) {
		char whyurl[256];
		if (http_url_ok(cur, whyurl, sizeof whyurl) < 0) {
			snprintf(why, len, "the video's address is refused: %s", whyurl);
			*gone = 1;
			goto out;
		}
		int st = hop(h, cur, &d, &next, why, len);
		if (st < 0) {
			*gone = d.toobig; /* as big the next time: final */
			goto out;
		}
		if (st >= 300 && st < 400 && next) {
			free(cur);
			cur = next;
			next = NULL;
			continue;
		}
		if (st < 200 || st > 299) {
			d.small.s = d.small.s ? d.small.s : xstrdup("");
			*gone = st == 404 || st == 410;
			snprintf(why, len, "the video's download answered HTTP %d%s", st,
			    *gone ? ": the provider no longer has it" : "");
			goto out;
		}
		break;
	}
	if (hops > 5) {
		snprintf(why, len, "the video's download redirected more than 5 times");
		*gone = 1;
		goto out;
	}
	if (d.got == 0) {
		snprintf(why, len, "the video's download was empty");
		*gone = 1;
		goto out;
	}
	if (fsync(d.fd) < 0 || close(d.fd) < 0) {
		d.fd = -1;
		snprintf(why, len, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	d.fd = -1;
	int dfd = -1;
	if (rename(tmp, path) < 0 || (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	*size = d.got;
	rc = 0;
out:
	if (d.fd >= 0)
		close(d.fd);
	if (rc)
		unlink(tmp);
	http_scrub(h, why);
	sb_free(&d.small);
	free(cur);
	free(next);
	free(tmp);
	free(dir);
	return rc;
}
