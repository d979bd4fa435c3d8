/* serve/cmd_generate: `ragd generate`: raw completion with the built-in decoder
 * (generate/generate_cli.c parses its own options). */
#include "serve/cli.h"
#include "core/util.h"
#include "generate/generate_cli.h"
#include <stdlib.h>
#include <string.h>

int cmd_generate(rg_cli *cli, int argc, char **argv) {
    if (!cli->json) return rg_generate_cli(argc, argv);
    /* `ragd --json generate ...`: pass the global flag on. */
    char **args = xcalloc((size_t)argc + 2, sizeof *args);
    memcpy(args, argv, (size_t)argc * sizeof *args);
    args[argc] = "--json";
    int rc = rg_generate_cli(argc + 1, args);
    free(args);
    return rc;
}
