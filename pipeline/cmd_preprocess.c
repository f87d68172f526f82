/* cmd_preprocess.c — `strata preprocess`: placeholder until its issue lands; says so and fails. */
#include "commands.h"
#include "strata.h"

int strata_cmd_preprocess(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    strata_log0("'strata preprocess' is not built yet in this version");
    return STRATA_EXIT_FAILURE;
}
