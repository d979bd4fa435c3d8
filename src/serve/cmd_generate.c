/* serve/cmd_generate: `ragd generate`, not built yet. */
#include "serve/cli.h"
#include <stdio.h>
#include <string.h>

int cmd_generate(rg_cli *cli, int argc, char **argv) {
    (void)cli;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        puts("usage: ragd generate ... (see ../shared/spec/interface.md); not built yet in this version");
        return 0;
    }
    fprintf(stderr, "ragd generate: not built yet\n");
    return 1;
}
