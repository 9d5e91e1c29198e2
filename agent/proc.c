#include "proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long ag_proc_status(const char *name)
{
	char line[256];
	size_t len = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}
