#include "warn.h"

#include <stdio.h>

void ag_warn(const char *msg)
{
	/* One line, no newlines inside: a newline would end the workflow command. */
	printf("::warning::cipulse: ");
	for (const char *p = msg; *p; p++)
		putchar(*p == '\n' || *p == '\r' ? ' ' : *p);
	putchar('\n');
	fflush(stdout);
}
