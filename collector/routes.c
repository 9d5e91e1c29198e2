#include "routes.h"

#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "health_http.h"

struct col_services {
	int unused;
};

void col_routes_register(void)
{
	col_health_http_routes();
}

int col_services_start(struct col_ctx *ctx, struct col_services **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? CM_OK : CM_ENOMEM;
}

void col_services_stop(struct col_services *svc)
{
	free(svc);
}

int col_extra_command(struct col_ctx *ctx, const char *cmd, int argc, char **argv)
{
	return -1;
}

const char *col_extra_commands_help(void)
{
	return "";
}
