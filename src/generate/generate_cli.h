/* generate/generate_cli: the whole `ragd generate` command (options, --help, --json), for
 * serve/cmd_generate.c to dispatch to. argv[0] is the command name. Returns the exit status:
 * 0 success, 1 failure (one line on stderr), 2 bad usage. */
#ifndef RAGD_GENERATE_GENERATE_CLI_H
#define RAGD_GENERATE_GENERATE_CLI_H
int rg_generate_cli(int argc, char **argv);
#endif
