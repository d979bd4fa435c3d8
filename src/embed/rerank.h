/* embed/rerank: a cross-encoder reranker (a BERT sequence-classification model in GGUF, such
 * as the ms-marco-MiniLM family) that scores (query, passage) pairs read together as
 * "[CLS] query [SEP] passage [SEP]": higher is more relevant. Run by the built-in runtime. */
#ifndef RAGD_EMBED_RERANK_H
#define RAGD_EMBED_RERANK_H

typedef struct rg_reranker rg_reranker;

/* Opens a GGUF cross-encoder; threads <= 0 picks the core count. NULL with rg_err set when
 * the file is missing, invalid or not a sequence-classification model. */
rg_reranker *rg_reranker_open(const char *path, int threads);
/* scores[i] = relevance of passages[i] to query (raw logit). Thread-safe. 0, or -1 + rg_err. */
int rg_reranker_score(rg_reranker *r, const char *query, const char *const *passages, int n,
                      float *scores);
const char *rg_reranker_name(const rg_reranker *r);   /* e.g. "gguf:ms-marco-MiniLM-L-6-v2" */
void rg_reranker_close(rg_reranker *r);
#endif
