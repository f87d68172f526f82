/* cmd_inspect.c — `strata inspect`: placeholder until its issue lands; says so and fails. */
#include "commands.h"
#include "strata.h"

int strata_cmd_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    strata_log0("'strata inspect' is not built yet in this version");
    return STRATA_EXIT_FAILURE;
}
