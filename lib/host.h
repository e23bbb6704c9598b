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
#include <stdio.h>

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
	char *hf_cache;      /* HF_HOME, the Hugging Face folder on the host (key
	                      * hf_home, or its older name hf_cache), or NULL */
	char *hf_token_file; /* the host's file holding the Hugging Face token
	                      * (mode 0600), or NULL; only its path is ever sent */
	int connect_timeout; /* seconds */
	int io_timeout;      /* seconds */
	char *backend;       /* its kind (backend.h): docker, the default, or local */
	char *engine;        /* COSMOS_ENGINE for cosmos-job: cosmos (the default),
	                      * transfer2.5, reference or a path; a transfer2.5
	                      * spec names its engine in the job file itself */
	/* GPU slots (docker, local): "auto", a count, or a list of indices
	 * or UUIDs; what a run takes when its request names no num_gpus; how
	 * many runs at once on a host without GPUs (0: its processors). */
	char *gpus;
	int gpus_per_run, slots;
	/* slurm: */
	char *partition, *gres, *time_limit, *account, *qos, *sbatch_options, *container;
	int max_running;     /* a job array's tasks at once (0: no limit) */
	/* http: */
	char *provider, *url, *key_file, *credential_hosts;
	char *model, *generate_model, *upscale_model;
	int min_interval_ms, min_interval_set;
	int max_download_mb;     /* a video bigger is refused (default 2048) */
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

/* Is g a list of GPU indices or UUIDs ("0,1", "GPU-...,GPU-...")? */
int host_gpu_list_ok(const char *g);

/* The GPU slot keys checked (gpus, gpus_per_run, slots, and no --gpus in
 * docker_options: each run gets its own); -1 with a message in err. */
int host_check_slots(const struct host *h, char *err, size_t errlen);
void host_free(struct host *h);

/* The hosts file's path (caller frees). */
char *hosts_path(void);

/* The hosts file's section names in its order, NULL-terminated (caller
 * frees each and the array); "local" alone when it names none or does
 * not exist.  NULL with a message in err when it cannot be read. */
char **host_names(char *err, size_t errlen);

/*
 * The parsers behind host_lookup and host_ssh_complete, each on text
 * already read (so that t/fuzz/ can feed them anything).
 *
 * hosts_read: the hosts file open as fp (path names it in messages) into
 * h for the section want; returns as host_lookup, without the environment.
 * host_ssh_config: ~/.ssh/config open as fp, as our small parser reads it
 * for alias.  host_ssh_G: the text "ssh -G" printed (changed in place).
 * Both fill only the keys h does not have yet; *port_set and *accept_set
 * say the port and StrictHostKeyChecking were given, and are set when read.
 */
int hosts_read(FILE *fp, const char *path, const char *want, struct host *h, char *err, size_t errlen);
void host_ssh_config(FILE *fp, const char *alias, struct host *h, int *port_set, int *accept_set);
void host_ssh_G(char *text, struct host *h, int *port_set, int *accept_set);

#endif
