/* serve/cmd_eval: `ragd eval`, not built yet. */
#include "serve/cli.h"
#include <stdio.h>
#include <string.h>

int cmd_eval(rg_cli *cli, int argc, char **argv) {
    (void)cli;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        puts("usage: ragd eval ... (see ../shared/spec/interface.md); not built yet in this version");
        return 0;
    }
    fprintf(stderr, "ragd eval: not built yet\n");
    return 1;
}
