/* serve/daemon_jobs: index and removal jobs, run one at a time on one writer thread with
 * its own writable store (opened per job, so the writer lock is held only while writing).
 * Jobs are kept in memory; the last MAX_KEPT finished ones stay queryable. */
#include "serve/daemon_internal.h"
#include "serve/index_job.h"
#include "core/util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KEPT 256
#define MAX_QUEUED 64

typedef struct job {
    int64_t id;
    job_kind kind;
    job_state state;
    char **paths; int npaths;
    char **exclude; int nexclude;
    int prune;
    char *doc_id;                 /* JOB_REMOVE */
    int removed;                  /* JOB_REMOVE: 1 removed, 0 absent */
    char *error;
    int64_t created, started, finished;
    rg_index_report report;       /* progress counters are written by the job thread */
    struct job *next;
} job;

struct rg_jobs {
    rg_daemon *d;
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    job *head, *tail;             /* all kept jobs, oldest first */
    int64_t next_id;
    int stop;
    _Atomic int cancel;           /* read by rg_index_run between sources */
    pthread_t thread;
};

static const char *state_name(job_state s) {
    switch (s) {
    case JOB_QUEUED: return "queued";
    case JOB_RUNNING: return "running";
    case JOB_DONE: return "done";
    case JOB_FAILED: return "failed";
    case JOB_CANCELLED: return "cancelled";
    }
    return "unknown";
}

static void job_free(job *jb) {
    for (int i = 0; i < jb->npaths; i++) free(jb->paths[i]);
    free(jb->paths);
    for (int i = 0; i < jb->nexclude; i++) free(jb->exclude[i]);
    free(jb->exclude);
    free(jb->doc_id);
    free(jb->error);
    rg_index_report_free(&jb->report);
    free(jb);
}

/* The progress counters and the cancel flag are atomics shared with rg_index_run. */
static void read_progress(const rg_index_report *r, int *done, int *total) {
    *done = atomic_load(&r->done);
    *total = atomic_load(&r->total);
}

static void set_cancel(rg_jobs *j) { atomic_store(&j->cancel, 1); }

static json_t *report_json(const rg_index_report *r) {
    json_t *fails = json_array();
    for (int i = 0; i < r->nfailures && i < 100; i++)
        json_array_append_new(fails, json_pack("{s:s, s:s}", "source", r->failures[i].source, "error", r->failures[i].why));
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:f, s:o}", "sources", r->sources, "indexed", r->indexed,
                     "unchanged", r->unchanged, "failed", r->failed, "removed", r->removed,
                     "chunks", (json_int_t)r->chunks, "bytes", (json_int_t)r->bytes, "seconds", r->seconds,
                     "failures", fails);
}

/* Called with mu held. */
static json_t *job_json(const job *jb) {
    json_t *o = json_pack("{s:I, s:s, s:s, s:I}", "job", (json_int_t)jb->id,
                          "kind", jb->kind == JOB_INDEX ? "index" : "remove", "state", state_name(jb->state),
                          "created_at", (json_int_t)jb->created);
    if (jb->started) json_object_set_new(o, "started_at", json_integer(jb->started));
    if (jb->finished) json_object_set_new(o, "finished_at", json_integer(jb->finished));
    if (jb->error) json_object_set_new(o, "error", json_string(jb->error));
    if (jb->kind == JOB_INDEX) {
        json_t *paths = json_array();
        for (int i = 0; i < jb->npaths; i++) json_array_append_new(paths, json_string(jb->paths[i]));
        json_object_set_new(o, "paths", paths);
        int done = 0, total = 0;
        if (jb->state == JOB_RUNNING) read_progress(&jb->report, &done, &total);
        else { done = jb->report.done; total = jb->report.total; }
        json_object_set_new(o, "done", json_integer(done));
        json_object_set_new(o, "total", json_integer(total));
        if (jb->state != JOB_QUEUED && jb->state != JOB_RUNNING)
            json_object_set_new(o, "result", report_json(&jb->report));
    } else {
        json_object_set_new(o, "doc_id", json_string(jb->doc_id));
        if (jb->state == JOB_DONE) json_object_set_new(o, "removed", json_boolean(jb->removed));
    }
    return o;
}

static job *find(rg_jobs *j, int64_t id) {
    for (job *jb = j->head; jb; jb = jb->next)
        if (jb->id == id) return jb;
    return NULL;
}

static job *next_queued(rg_jobs *j) {
    for (job *jb = j->head; jb; jb = jb->next)
        if (jb->state == JOB_QUEUED) return jb;
    return NULL;
}

/* Drops the oldest finished jobs beyond MAX_KEPT. Called with mu held. */
static void trim(rg_jobs *j) {
    int n = 0;
    for (job *jb = j->head; jb; jb = jb->next) n++;
    job **pp = &j->head;
    while (n > MAX_KEPT && *pp) {
        job *jb = *pp;
        if (jb->state == JOB_QUEUED || jb->state == JOB_RUNNING) { pp = &jb->next; continue; }
        *pp = jb->next;
        job_free(jb);
        n--;
    }
    j->tail = NULL;
    for (job *jb = j->head; jb; jb = jb->next) j->tail = jb;
}

/* Runs one job without the mutex; the job's fields other than report are not touched by
 * readers until state changes under the mutex. */
static void run_job(rg_jobs *j, job *jb) {
    rg_daemon *d = j->d;
    char *err = NULL;
    int ok = 0;
    rg_enc_ref *er = rg_daemon_encoder(d);
    rg_encoder *enc = er->e;
    rg_store_opts so = {.encoder = enc ? enc->name : NULL, .dim = enc ? enc->dim : 0, .writable = 1, .create = jb->kind == JOB_INDEX};
    rg_store *s = rg_store_open(d->cfg.index_dir, &so);
    if (!s) err = xstrdup(rg_errmsg());
    else if (jb->kind == JOB_INDEX) {
        rg_index_opts o;
        rg_index_opts_default(&o);
        o.exclude = jb->exclude;
        o.nexclude = jb->nexclude;
        o.prune = jb->prune;
        o.cancel = &j->cancel;
        if (rg_index_run(s, enc, jb->paths, jb->npaths, &o, &jb->report) != 0) err = xstrdup(rg_errmsg());
        else ok = 1;
    } else {
        int r = rg_store_remove_doc(s, jb->doc_id);
        if (r < 0 || rg_store_flush(s) != 0) err = xstrdup(rg_errmsg());
        else { ok = 1; jb->removed = r; }
    }
    rg_store_close(s);
    rg_enc_release(er);
    /* The job's vectors are saved: searches see them as soon as the job reports done. */
    rg_daemon_vectors_refresh(d, 0, 1);
    pthread_mutex_lock(&j->mu);
    jb->finished = rg_unix_time();
    jb->error = err;
    if (!ok) jb->state = JOB_FAILED;
    else if (j->cancel && jb->report.done < jb->report.total) jb->state = JOB_CANCELLED;
    else jb->state = JOB_DONE;
    pthread_cond_broadcast(&j->done_cv);
    pthread_mutex_unlock(&j->mu);
}

static void *job_thread(void *arg) {
    rg_jobs *j = arg;
    pthread_setname_np(pthread_self(), "rg-job");
    pthread_mutex_lock(&j->mu);
    for (;;) {
        job *jb;
        while (!j->stop && !(jb = next_queued(j))) pthread_cond_wait(&j->cv, &j->mu);
        if (j->stop) break;
        jb->state = JOB_RUNNING;
        jb->started = rg_unix_time();
        pthread_mutex_unlock(&j->mu);
        run_job(j, jb);
        /* A corpus-fitted encoder may have been refit by the job: pick up its new state
         * (the hashing encoder has none). */
        const char *spec = j->d->cfg.encoder_spec;
        if (jb->kind == JOB_INDEX && jb->report.indexed > 0 && !(spec && strncmp(spec, "hash", 4) == 0))
            rg_daemon_reload(j->d, 0);
        pthread_mutex_lock(&j->mu);
        trim(j);
    }
    /* Stopping: what never started is cancelled. */
    for (job *jb = j->head; jb; jb = jb->next)
        if (jb->state == JOB_QUEUED) { jb->state = JOB_CANCELLED; jb->finished = rg_unix_time(); }
    pthread_cond_broadcast(&j->done_cv);
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int rg_jobs_active(rg_jobs *j) {
    if (!j) return 0;
    pthread_mutex_lock(&j->mu);
    int n = 0;
    for (job *jb = j->head; jb && !n; jb = jb->next) n = jb->state == JOB_RUNNING;
    pthread_mutex_unlock(&j->mu);
    return n;
}

rg_jobs *rg_jobs_start(rg_daemon *d) {
    rg_jobs *j = xcalloc(1, sizeof *j);
    j->d = d;
    j->next_id = 1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    pthread_cond_init(&j->done_cv, NULL);
    if (pthread_create(&j->thread, NULL, job_thread, j) != 0) {
        rg_err("job thread: %s", strerror(errno));
        free(j);
        return NULL;
    }
    return j;
}

static int64_t submit(rg_jobs *j, job *jb) {
    pthread_mutex_lock(&j->mu);
    int queued = 0;
    for (job *x = j->head; x; x = x->next) queued += x->state == JOB_QUEUED;
    if (j->stop || queued >= MAX_QUEUED) {
        pthread_mutex_unlock(&j->mu);
        job_free(jb);
        return -1;
    }
    jb->id = j->next_id++;
    jb->state = JOB_QUEUED;
    jb->created = rg_unix_time();
    if (j->tail) j->tail->next = jb; else j->head = jb;
    j->tail = jb;
    int64_t id = jb->id;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return id;
}

int64_t rg_jobs_submit_index(rg_jobs *j, char **paths, int npaths, char **exclude, int nexclude, int prune) {
    job *jb = xcalloc(1, sizeof *jb);
    jb->kind = JOB_INDEX;
    jb->paths = xcalloc((size_t)npaths + 1, sizeof *jb->paths);
    for (int i = 0; i < npaths; i++) jb->paths[i] = xstrdup(paths[i]);
    jb->npaths = npaths;
    jb->exclude = xcalloc((size_t)nexclude + 1, sizeof *jb->exclude);
    for (int i = 0; i < nexclude; i++) jb->exclude[i] = xstrdup(exclude[i]);
    jb->nexclude = nexclude;
    jb->prune = prune;
    return submit(j, jb);
}

int64_t rg_jobs_submit_remove(rg_jobs *j, const char *doc_id) {
    job *jb = xcalloc(1, sizeof *jb);
    jb->kind = JOB_REMOVE;
    jb->doc_id = xstrdup(doc_id);
    return submit(j, jb);
}

json_t *rg_jobs_get(rg_jobs *j, int64_t id) {
    pthread_mutex_lock(&j->mu);
    job *jb = find(j, id);
    json_t *o = jb ? job_json(jb) : NULL;
    pthread_mutex_unlock(&j->mu);
    return o;
}

job_state rg_jobs_wait(rg_jobs *j, int64_t id, double timeout) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double end = (double)ts.tv_sec + ts.tv_nsec / 1e9 + timeout;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&j->mu);
    job_state st = JOB_FAILED;
    for (;;) {
        job *jb = find(j, id);
        if (!jb) break;
        st = jb->state;
        if (st != JOB_QUEUED && st != JOB_RUNNING) break;
        if (pthread_cond_timedwait(&j->done_cv, &j->mu, &ts) == ETIMEDOUT) {
            st = jb->state;
            break;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return st;
}

json_t *rg_jobs_summary(rg_jobs *j) {
    int q = 0, r = 0, f = 0;
    pthread_mutex_lock(&j->mu);
    for (job *jb = j->head; jb; jb = jb->next) {
        if (jb->state == JOB_QUEUED) q++;
        else if (jb->state == JOB_RUNNING) r++;
        else f++;
    }
    pthread_mutex_unlock(&j->mu);
    return json_pack("{s:i, s:i, s:i}", "queued", q, "running", r, "finished", f);
}

void rg_jobs_cancel(rg_jobs *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    j->stop = 1;
    set_cancel(j);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void rg_jobs_stop(rg_jobs *j) {
    if (!j) return;
    rg_jobs_cancel(j);
    pthread_join(j->thread, NULL);
    for (job *jb = j->head; jb;) { job *n = jb->next; job_free(jb); jb = n; }
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->done_cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}
