/*
 * host.h - named GPU hosts.
 *
 * A host is found in the hosts file ($COSMOS_CONFIG, else
 * $XDG_CONFIG_HOME/cosmos/hosts, else ~/.config/cosmos/hosts):
 *
 *	[gpu1]
 *	address = gpu1.example.com      # or an alias from ~/.ssh/config
 *	workdir = /home/ubuntu/cosmos-transfer1
 *	image = nvcr.io/nvidia/cosmos/cosmos-transfer1:latest
 *
 * then in OpenSSH's own configuration, as "ssh -G ALIAS" prints it (so
 * Include, Match, tokens and ProxyJump are OpenSSH's): HostName, User,
 * Port, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking,
 * ConnectTimeout, ProxyJump and ProxyCommand; then defaults.  Without an
 * ssh program, ~/.ssh/config is read by a small parser of our own.  The
 * variables COSMOS_HOST_<FIELD> (e.g. COSMOS_HOST_WORKDIR) override a
 * field of whichever host is chosen.  Fields are listed in cosmos(7).
 */
#ifndef COSMOS_HOST_H
#define COSMOS_HOST_H

#include <stddef.h>

struct host {
	char *name;          /* the section name */
	char *address;       /* what to connect to (after ~/.ssh/config) */
	int port;
	char *user;
	char *identity;      /* a private key file, or NULL: agent and defaults */
	char *known_hosts;
	int accept_new;      /* add an unknown host key (never a changed one) */
	int accept_new_set;  /* accept_new was given (file or environment) */
	char *workdir;       /* on the host; mounted at /workspace */
	char *image;
	int sudo;            /* docker needs sudo */
	char *docker_options;/* words added to docker run */
	char *hf_cache;      /* Hugging Face cache on the host, or NULL */
	int connect_timeout; /* seconds */
	int io_timeout;      /* seconds */
	char *backend;       /* its kind (backend.h): docker, the default, or local */
	char *engine;        /* COSMOS_ENGINE for cosmos-job, where the kind passes it */
	/* slurm: */
	char *partition, *gres, *time_limit, *account, *qos, *sbatch_options, *container;
	int max_running;     /* a job array's tasks at once (0: no limit) */
	/* http: */
	char *provider, *url, *key_file, *credential_hosts;
	char *model, *generate_model, *upscale_model;
	int min_interval_ms, min_interval_set;
	/* ssh: from OpenSSH's configuration (ssh -G), never the hosts file */
	char *proxy_jump, *proxy_command;
};

/*
 * Fill h for the host called name (NULL: $COSMOS_HOST, else the only or
 * the "default = yes" host) from the hosts file and COSMOS_HOST_<KEY>.
 * Returns 0, 1 when no host is configured at all or name is "local" (the
 * local backend applies), or -1 with a message in err.  What the keys
 * mean, and their defaults, is the backend's (its configure).
 */
int host_lookup(const char *name, struct host *h, char *err, size_t errlen);

/* An SSH host's keys completed from ~/.ssh/config and defaults; -1 with
 * a message in err when one is missing. */
int host_ssh_complete(struct host *h, char *err, size_t errlen);

/* The defaults of the keys every shell backend reads (image, docker
 * options, the Hugging Face cache, timeouts). */
void host_defaults(struct host *h);
void host_free(struct host *h);

/* The hosts file's path (caller frees). */
char *hosts_path(void);

#endif
