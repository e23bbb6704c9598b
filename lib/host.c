/* host.c - named hosts from the hosts file and ~/.ssh/config; see host.h. */
#define _GNU_SOURCE
#include "host.h"
#include "local.h"
#include "shell.h"
#include "transfer25.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* F_ALIAS: another name for the F_STR field at the same offset. */
enum field_kind { F_STR, F_INT, F_BOOL, F_MS, F_ALIAS };

static const struct field {
	const char *key;
	enum field_kind kind;
	size_t off;
} fields[] = {
#define S(k, m) {k, F_STR, offsetof(struct host, m)}
#define I(k, m) {k, F_INT, offsetof(struct host, m)}
#define B(k, m) {k, F_BOOL, offsetof(struct host, m)}
	S("address", address), I("port", port), S("user", user), S("identity", identity),
	S("known_hosts", known_hosts), B("accept_new", accept_new), S("workdir", workdir),
	S("image", image), B("sudo", sudo), S("docker_options", docker_options),
	S("gpus", gpus), I("gpus_per_run", gpus_per_run), I("slots", slots),
	S("hf_cache", hf_cache), {"hf_home", F_ALIAS, offsetof(struct host, hf_cache)},
	S("hf_token_file", hf_token_file), I("connect_timeout", connect_timeout),
	I("io_timeout", io_timeout), S("backend", backend), S("engine", engine),
	S("partition", partition), S("gres", gres), S("time_limit", time_limit), S("account", account),
	S("qos", qos), S("sbatch_options", sbatch_options), S("container", container),
	I("max_running", max_running), S("provider", provider), S("url", url), S("key_file", key_file),
	S("credential_hosts", credential_hosts), S("model", model), S("generate_model", generate_model),
	S("upscale_model", upscale_model), {"min_interval_ms", F_MS, offsetof(struct host, min_interval_ms)},
	I("max_download_mb", max_download_mb),
	{"default", F_BOOL, (size_t)-1},
#undef S
#undef I
#undef B
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const char *home(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_dir : "/";
}

static char *expand_tilde(const char *p)
{
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0'))
		return xasprintf("%s%s", home(), p + 1);
	return xstrdup(p);
}

static char *config_file(const char *env, const char *rel)
{
	const char *e = getenv(env);
	if (e && *e)
		return xstrdup(e);
	const char *x = getenv("XDG_CONFIG_HOME");
	if (x && *x == '/')
		return xasprintf("%s/%s", x, rel);
	return xasprintf("%s/.config/%s", home(), rel);
}

char *hosts_path(void)
{
	return config_file("COSMOS_CONFIG", "cosmos/hosts");
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int parse_bool(const char *v)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		return 1;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		return 0;
	return -1;
}

/*
 * An engine cosmos-job can run on any kind of host: Transfer1 (cosmos, the
 * default), Transfer2.5 (transfer2.5; its requests are translated by
 * transfer25.c), the reference engine, or a command's path.
 */
static int engine_ok(const char *v)
{
	return !strcmp(v, "cosmos") || !strcmp(v, "reference") || t25_is_engine(v) || strchr(v, '/');
}

/*
 * A file's path on the host that docker run -v can mount: absolute or
 * from the home directory (a relative one is a volume's name to docker),
 * and without the ':' that ends -v's source.
 */
static int mount_path_ok(const char *v)
{
	return (v[0] == '/' || (v[0] == '~' && v[1] == '/')) && !strchr(v, ':');
}

/* Store value into field f of h; a message on a bad value. */
static const char *set_field(struct host *h, const struct field *f, const char *v, int *is_default)
{
	long n;
	int b;
	if (f->off == (size_t)-1) {
		if ((b = parse_bool(v)) < 0)
			return "is not yes or no";
		*is_default = b;
		return NULL;
	}
	if (!*v)
		return "is empty";
	char *p = (char *)h + f->off;
	if (p == (char *)&h->engine && !engine_ok(v))
		return "is not cosmos, transfer2.5, reference or a command's path";
	if (p == (char *)&h->hf_token_file && !mount_path_ok(v))
		return "is not a path from / or ~/ without a ':'";
	switch (f->kind) {
	case F_STR:
	case F_ALIAS:
		free(*(char **)p);
		*(char **)p = xstrdup(v);
		break;
	case F_INT:
		if (parse_long(v, &n) < 0 || n < 1 || n > 65535)
			return "is not a number from 1 to 65535";
		*(int *)p = (int)n;
		break;
	case F_MS:
		if (parse_long(v, &n) < 0 || n < 0 || n > 3600000)
			return "is not a number of milliseconds from 0 to 3600000";
		*(int *)p = (int)n;
		h->min_interval_set = 1;
		break;
	case F_BOOL:
		if ((b = parse_bool(v)) < 0)
			return "is not yes or no";
		*(int *)p = b;
		h->accept_new_set |= p == (char *)&h->accept_new;
		break;
	}
	return NULL;
}

/* The hosts file open as fp; see host.h. */
int hosts_read(FILE *fp, const char *path, const char *want, struct host *h, char *err, size_t errlen)
{
	char *line = NULL, *section = NULL;
	size_t cap = 0;
	long lineno = 0;
	int nsections = 0, found = 0, r = 0, is_default = 0;
	struct host cur = {0}, pick = {0};
	while (getline(&line, &cap, fp) > 0) {
		lineno++;
		char *s = line;
		for (char *c = s; *c; c++)
			if (*c == '#' && (c == s || isspace((unsigned char)c[-1]))) {
				*c = '\0';
				break;
			}
		s = trim(s);
		if (!*s)
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (!end || end[1] || end == s + 1) {
				snprintf(err, errlen, "%s:%ld: a section is [NAME]", path, lineno);
				goto fail;
			}
			*end = '\0';
			if (section && !found && ((want && !strcmp(section, want)) || (!want && is_default))) {
				pick = cur, found = 1;
				memset(&cur, 0, sizeof cur);
			}
			host_free(&cur);
			free(section);
			section = xstrdup(s + 1);
			cur.name = xstrdup(section);
			is_default = 0;
			nsections++;
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq || !section) {
			snprintf(err, errlen, "%s:%ld: %s", path, lineno,
			    section ? "expected KEY = VALUE" : "a KEY = VALUE line before any [NAME]");
			goto fail;
		}
		*eq = '\0';
		char *k = trim(s), *v = trim(eq + 1);
		const struct field *f = NULL;
		for (size_t i = 0; i < NFIELDS; i++)
			if (!strcmp(fields[i].key, k))
				f = &fields[i];
		const char *why = f ? set_field(&cur, f, v, &is_default) : "is not a known key";
		if (why && f)
			snprintf(err, errlen, "%s:%ld: %s: '%s' %s", path, lineno, k, shown(v), why);
		else if (why)
			snprintf(err, errlen, "%s:%ld: '%s' %s", path, lineno, shown(k), why);
		if (why)
			goto fail;
	}
	if (section && !found && ((want && !strcmp(section, want)) || (!want && (is_default || nsections == 1)))) {
		pick = cur, found = 1;
		memset(&cur, 0, sizeof cur);
	}
	if (!found) {
		if (want)
			snprintf(err, errlen, "no host '%s' in %s", shown(want), path);
		else if (nsections > 1)
			snprintf(err, errlen, "%s names several hosts and none is chosen: set COSMOS_HOST, --host or default = yes", path);
		r = want || nsections > 1 ? -1 : 1;
	} else
		*h = pick;
	goto out;
fail:
	r = -1;
	host_free(&pick); /* chosen before a later line was found bad */
out:
	host_free(&cur);
	free(section);
	free(line);
	return r;
}

/*
 * Read the hosts file into h for the section named want (NULL: the default
 * or only one).  Returns 0 found, 1 no hosts configured, -1 error.
 */
static int read_hosts(const char *want, struct host *h, char *err, size_t errlen)
{
	char *path = hosts_path();
	FILE *fp = fopen(path, "re");
	int r;
	if (!fp) {
		int e = errno;
		r = e == ENOENT && !want ? 1 : -1;
		if (e == ENOENT && want)
			snprintf(err, errlen, "no host '%s': %s does not exist", shown(want), path);
		else if (r < 0)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
	} else {
		r = hosts_read(fp, path, want, h, err, errlen);
		fclose(fp);
	}
	free(path);
	return r;
}

char **host_names(char *err, size_t errlen)
{
	char *path = hosts_path(), *line = NULL;
	FILE *fp = fopen(path, "re");
	size_t cap = 0, n = 0;
	char **v = xmalloc(2 * sizeof *v);
	if (!fp && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(path);
		free(v);
		return NULL;
	}
	while (fp && getline(&line, &cap, fp) > 0) {
		char *s = line;
		for (char *c = s; *c; c++)
			if (*c == '#' && (c == s || isspace((unsigned char)c[-1]))) {
				*c = '\0';
				break;
			}
		s = trim(s);
		size_t len = strlen(s);
		if (len > 2 && s[0] == '[' && s[len - 1] == ']' && !memchr(s, ']', len - 1)) {
			v = xrealloc(v, (n + 2) * sizeof *v);
			v[n++] = xasprintf("%.*s", (int)(len - 2), s + 1);
		}
	}
	if (!n)
		v[n++] = xstrdup("local");
	v[n] = NULL;
	if (fp)
		fclose(fp);
	free(line);
	free(path);
	return v;
}

/* Split an ssh_config line into keyword and first argument (quotes kept simple). */
static int ssh_kv(char *s, char **k, char **v)
{
	s = trim(s);
	if (!*s || *s == '#')
		return 0;
	*k = s;
	while (*s && !isspace((unsigned char)*s) && *s != '=')
		s++;
	if (*s)
		*s++ = '\0';
	while (isspace((unsigned char)*s) || *s == '=')
		s++;
	if (*s == '"') {
		char *e = strchr(++s, '"');
		if (e)
			*e = '\0';
	}
	*v = s;
	return 1;
}

static int host_matches(char *patterns, const char *alias)
{
	int hit = 0;
	char *save = NULL;
	for (char *p = strtok_r(patterns, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
		if (*p == '!' && fnmatch(p + 1, alias, 0) == 0)
			return 0;
		if (*p != '!' && fnmatch(p, alias, 0) == 0)
			hit = 1;
	}
	return hit;
}

/* The first value of each keyword wins, as in ssh_config(5). */
void host_ssh_config(FILE *fp, const char *alias, struct host *h, int *port_set, int *accept_set)
{
	char *line = NULL, *k, *v, *hostname = NULL;
	size_t cap = 0;
	int active = 1;
	while (getline(&line, &cap, fp) > 0) {
		if (!ssh_kv(line, &k, &v))
			continue;
		if (!strcasecmp(k, "Host")) {
			active = host_matches(v, alias);
			continue;
		}
		if (!strcasecmp(k, "Match")) {
			active = 0; /* not supported: its lines are skipped */
			continue;
		}
		if (!active || !*v)
			continue;
		if (!strcasecmp(k, "HostName") && !hostname)
			hostname = xstrdup(v);
		else if (!strcasecmp(k, "User") && !h->user)
			h->user = xstrdup(v);
		else if (!strcasecmp(k, "Port") && !*port_set) {
			long n;
			if (parse_long(v, &n) == 0 && n > 0 && n < 65536)
				h->port = (int)n, *port_set = 1;
		} else if (!strcasecmp(k, "IdentityFile") && !h->identity)
			h->identity = expand_tilde(v);
		else if (!strcasecmp(k, "UserKnownHostsFile") && !h->known_hosts)
			h->known_hosts = expand_tilde(v);
		else if (!strcasecmp(k, "StrictHostKeyChecking") && !*accept_set) {
			h->accept_new = !strcasecmp(v, "accept-new");
			*accept_set = 1;
		}
	}
	if (hostname) {
		free(h->address);
		h->address = hostname;
	}
	free(line);
}

static void read_ssh_config(const char *alias, struct host *h, int *port_set, int *accept_set)
{
	char *path = getenv("COSMOS_SSH_CONFIG") ? xstrdup(getenv("COSMOS_SSH_CONFIG"))
	                                         : xasprintf("%s/.ssh/config", home());
	FILE *fp = fopen(path, "re");
	free(path);
	if (!fp)
		return;
	host_ssh_config(fp, alias, h, port_set, accept_set);
	fclose(fp);
}

static void env_overrides(struct host *h, int *bad, char *err, size_t errlen)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i].off == (size_t)-1)
			continue;
		char var[64];
		snprintf(var, sizeof var, "COSMOS_HOST_%s", fields[i].key);
		for (char *c = var; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		const char *v = getenv(var);
		if (!v)
			continue;
		int ignored;
		const char *why = set_field(h, &fields[i], v, &ignored);
		if (why) {
			snprintf(err, errlen, "%s: '%s' %s", var, shown(v), why);
			*bad = 1;
		}
	}
}

int host_lookup(const char *name, struct host *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	if (!name)
		name = getenv("COSMOS_HOST");
	if (name && !*name)
		name = NULL;
	if (name && !strcmp(name, "local"))
		return 1;
	int r = read_hosts(name, h, err, errlen);
	if (r != 0)
		return r;
	int bad = 0;
	env_overrides(h, &bad, err, errlen);
	if (bad) {
		host_free(h);
		return -1;
	}
	return 0;
}

/* Is path one of the identity files OpenSSH tries by default? */
static int default_identity(const char *path)
{
	static const char *const names[] = {"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk",
	                                    "id_xmss", "id_dsa", NULL};
	const char *slash = strrchr(path, '/');
	for (int i = 0; names[i] && slash; i++)
		if (!strcmp(slash + 1, names[i]) && slash - path >= 5 && !strncmp(slash - 5, ".ssh/", 5))
			return 1;
	return 0;
}

/* The text "ssh -G" printed ("keyword value" lines) into h; see host.h. */
void host_ssh_G(char *text, struct host *h, int *port_set, int *accept_set)
{
	char *save = NULL, *hostname = NULL;
	int idents = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(l, ' ');
		if (!v)
			continue;
		*v++ = '\0';
		long n;
		if (!strcmp(l, "hostname"))
			hostname = v;
		else if (!strcmp(l, "user") && !h->user)
			h->user = xstrdup(v);
		else if (!strcmp(l, "port") && !*port_set && parse_long(v, &n) == 0 && n > 0 && n < 65536)
			h->port = (int)n, *port_set = 1;
		else if (!strcmp(l, "identityfile") && !h->identity && !idents && !default_identity(v))
			h->identity = expand_tilde(v), idents = 1;
		else if (!strcmp(l, "userknownhostsfile") && !h->known_hosts) {
			v[strcspn(v, " ")] = '\0';
			h->known_hosts = expand_tilde(v);
		} else if (!strcmp(l, "stricthostkeychecking") && !*accept_set)
			h->accept_new = !strcmp(v, "accept-new");
		else if (!strcmp(l, "connecttimeout") && !h->connect_timeout && parse_long(v, &n) == 0 && n > 0 && n < 65536)
			h->connect_timeout = (int)n;
		else if (!strcmp(l, "proxyjump") && !h->proxy_jump && strcmp(v, "none"))
			h->proxy_jump = xstrdup(v);
		else if (!strcmp(l, "proxycommand") && !h->proxy_command && strcmp(v, "none"))
			h->proxy_command = xstrdup(v);
	}
	if (hostname) {
		free(h->address);
		h->address = xstrdup(hostname);
	}
}

/*
 * The alias as OpenSSH reads its configuration: "ssh [-F FILE] -G ALIAS".
 * Keys the hosts file or the environment set win.  0; 1 when there is no
 * ssh program (the caller reads ~/.ssh/config itself); -1 with err when
 * ssh refuses its configuration.
 */
static int ssh_G(const char *alias, struct host *h, int *port_set, int *accept_set, char *err, size_t errlen)
{
	struct sbuf cmd = {0}, out = {0}, msg = {0};
	const char *cfg = getenv("COSMOS_SSH_CONFIG");
	sb_puts(&cmd, "exec ssh");
	if (cfg && *cfg) {
		sb_puts(&cmd, " -F ");
		sb_quote(&cmd, cfg);
	}
	sb_puts(&cmd, " -G -- ");
	sb_quote(&cmd, alias);
	int st = local_exec(cmd.s, NULL, 0, &out, &msg), r = 0;
	if (st == 127 || st < 0)
		r = 1;
	else if (st != 0) {
		const char *m = msg.s ? msg.s : "failed";
		snprintf(err, errlen, "ssh -G %s: %.*s", shown(alias), (int)strcspn(m, "\n"), m);
		r = -1;
	}
	if (r == 0 && out.s)
		host_ssh_G(out.s, h, port_set, accept_set);
	sb_free(&cmd);
	sb_free(&out);
	sb_free(&msg);
	return r;
}

int host_ssh_complete(struct host *h, char *err, size_t errlen)
{
	int port_set = h->port != 0, accept_set = h->accept_new_set;
	if (!h->address)
		h->address = xstrdup(h->name);
	char *alias = xstrdup(h->address);
	int g = ssh_G(alias, h, &port_set, &accept_set, err, errlen);
	if (g > 0)
		read_ssh_config(alias, h, &port_set, &accept_set);
	free(alias);
	if (g < 0)
		return -1;
	if (!h->port)
		h->port = 22;
	if (!h->user) {
		struct passwd *pw = getpwuid(getuid());
		h->user = xstrdup(getenv("USER") ? getenv("USER") : pw ? pw->pw_name : "root");
	}
	char *p;
	if (h->identity && (p = expand_tilde(h->identity)))
		free(h->identity), h->identity = p;
	if (!h->known_hosts)
		h->known_hosts = xasprintf("%s/.ssh/known_hosts", home());
	else if ((p = expand_tilde(h->known_hosts)))
		free(h->known_hosts), h->known_hosts = p;
	if (!h->workdir) {
		snprintf(err, errlen, "host '%s': no workdir (the host's cosmos-transfer1 checkout)", shown(h->name));
		return -1;
	}
	host_defaults(h);
	return 0;
}

void host_defaults(struct host *h)
{
	if (!h->image)
		h->image = xstrdup("nvcr.io/nvidia/cosmos/cosmos-transfer1:latest");
	if (!h->docker_options)
		h->docker_options = xstrdup("--ipc=host --shm-size=8g");
	if (!h->gpus)
		h->gpus = xstrdup("auto");
	if (!h->gpus_per_run)
		h->gpus_per_run = 1;
	if (!h->hf_cache) /* huggingface_hub's own default for HF_HOME */
		h->hf_cache = xstrdup("~/.cache/huggingface");
	if (!h->connect_timeout)
		h->connect_timeout = 10;
	if (!h->io_timeout)
		h->io_timeout = 60;
}

int host_gpu_list_ok(const char *g)
{
	size_t n = strspn(g, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789,:_-");
	return !g[n] && *g && *g != ',' && g[n - 1] != ',' && !strstr(g, ",,") && n <= 2000;
}

int host_check_slots(const struct host *h, char *err, size_t errlen)
{
	const char *bad = NULL;
	if (!host_gpu_list_ok(h->gpus))
		bad = "gpus";
	else if (h->gpus_per_run < 1 || h->gpus_per_run > 64)
		bad = "gpus_per_run";
	else if (h->slots < 0 || h->slots > 1024)
		bad = "slots";
	if (bad) {
		snprintf(err, errlen, "host '%s': %s: not %s", shown(h->name), bad,
		    !strcmp(bad, "gpus") ? "auto, a count, or a list of GPU indices or UUIDs (0,1,3)"
		    : !strcmp(bad, "slots") ? "a count from 1 to 1024" : "a count from 1 to 64");
		return -1;
	}
	char *opts = xstrdup(h->docker_options ? h->docker_options : ""), *save = NULL;
	for (char *t = strtok_r(opts, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
		if (!strcmp(t, "--gpus") || !strncmp(t, "--gpus=", 7)) {
			snprintf(err, errlen, "host '%s': docker_options: no --gpus: each run gets GPUs of its own "
			    "from the host's gpus key (cosmos(7) HOSTS)", shown(h->name));
			free(opts);
			return -1;
		}
	free(opts);
	return 0;
}

void host_free(struct host *h)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].kind == F_STR)
			free(*(char **)((char *)h + fields[i].off));
	free(h->proxy_jump);
	free(h->proxy_command);
	free(h->name);
	memset(h, 0, sizeof *h);
}
