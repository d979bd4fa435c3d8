/* embed/models: the local model directory and downloads from a Hugging Face hub.
 * Directory: $RAGD_MODELS, else $XDG_DATA_HOME/ragd/models, else ~/.local/share/ragd/models.
 * A pull asks the hub's API ({endpoint}/api/models/{repo}?blobs=true) for the repository's files
 * with their LFS sha256, picks the file (the only .gguf, else the Q8_0 or F16 one), downloads
 * {endpoint}/{repo}/resolve/main/{file} (redirects followed, http/https only, at most 5) into
 * NAME.part with Range resumption, hashes while writing, and renames into place only when size
 * and sha256 match. Endpoint: $RAGD_HF_ENDPOINT, else https://huggingface.co; token: $HF_TOKEN
 * (sent as a Bearer header to the hub, never printed). */
#ifndef RAGD_EMBED_MODELS_H
#define RAGD_EMBED_MODELS_H
#include <stddef.h>
#include <stdint.h>

char *rg_models_dir(void);   /* caller frees; not created */

typedef struct {
    const char *endpoint;    /* NULL: $RAGD_HF_ENDPOINT or https://huggingface.co */
    const char *token;       /* NULL: $HF_TOKEN (may be unset) */
    int progress;            /* draw a progress bar on stderr */
    long connect_timeout_s;  /* 0: 30 */
    long stall_timeout_s;    /* abort when no byte came for this long; 0: 60 */
} rg_pull_opts;

typedef struct {
    char *path;              /* where the model now is */
    char *file;              /* the repository file that was fetched */
    char sha256[65];         /* of the file ("" when the hub published none) */
    int64_t size;
    int verified;            /* sha256 matched the hub's */
    int resumed;             /* continued an earlier partial download */
    int already;             /* was already there, verified */
} rg_pull_result;

/* Downloads repo's file (NULL: choose the .gguf) into dir (created). Returns 0, or -1 with
 * rg_err naming the repository or file and the reason. */
int rg_model_pull(const char *repo, const char *file, const char *dir, const rg_pull_opts *o, rg_pull_result *r);
void rg_pull_result_free(rg_pull_result *r);

typedef struct {
    char *name;
    int64_t size;
    char arch[64];           /* GGUF general.architecture, "" when unreadable */
    int partial;             /* an unfinished download (NAME.part) */
} rg_model_info;
int rg_models_list(const char *dir, rg_model_info **out, int *n);   /* by name; none when dir is absent */
void rg_models_free(rg_model_info *m, int n);
/* Removes NAME (or NAME.gguf) and its partial download: 1 removed, 0 absent, -1 error. */
int rg_models_rm(const char *dir, const char *name);
/* general.architecture from a GGUF file's header, reading at most 1 MiB: 0, or -1. */
int rg_gguf_peek_arch(const char *path, char *arch, size_t n);
#endif
