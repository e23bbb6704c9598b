/* put - a benchmark driver: upload FILE to REMOTE_PATH on a host through
 * lib/ssh.c (one connection, SFTP writes in one or two lanes), as cosmos-submit does. */
#include <stdio.h>
#include <stdlib.h>

#include "remote.h"
#include "util.h"

int main(int argc, char **argv)
{
	progname = "put";
	if (argc != 4)
		errx_(EX_USAGE_, "usage: put HOST FILE REMOTE_PATH");
	char err[512];
	struct remote *r = remote_get(argv[1], err, sizeof err);
	if (!r || r->failed)
		errx_(EX_UNAVAIL, "%s", r ? r->err : err);
	uint64_t sent = 0;
	if (ssh_put_file(r->ssh, argv[2], argv[3], &sent) < 0)
		errx_(EX_UNAVAIL, "%s", ssh_error(r->ssh));
	printf("%llu\n", (unsigned long long)sent);
	remote_close_all();
	return 0;
}
