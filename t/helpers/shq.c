/* shq - a test driver: print each argument as shquote() (lib/shell.c) makes it. */
#include <stdio.h>
#include <stdlib.h>

#include "shell.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *q = shquote(argv[i]);
		printf("%s%s", q, i + 1 < argc ? " " : "\n");
		free(q);
	}
	return 0;
}
