/* serve/daemon_socket: the daemon's listening socket, systemd socket activation and
 * readiness, and peer credentials (see daemon_internal.h). */
#include "serve/daemon_internal.h"
#include "core/util.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void rg_dsock_notify(const char *state) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof a.sun_path || (path[0] != '/' && path[0] != '@')) return;
    memcpy(a.sun_path, path, n);
    if (path[0] == '@') a.sun_path[0] = 0;   /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&a, len) < 0) { /* not fatal */ }
    close(fd);
}

int rg_dsock_peer(int fd, uid_t *uid, gid_t *gid, pid_t *pid) {
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof cr) {
        rg_err("peer credentials: %s", strerror(errno));
        return -1;
    }
    if (uid) *uid = cr.uid;
    if (gid) *gid = cr.gid;
    if (pid) *pid = cr.pid;
    return 0;
}

int rg_dsock_check_dir(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) { free(dir); dir = xstrdup("."); }
    else if (slash == dir) slash[1] = 0;
    else *slash = 0;
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT || rg_mkdir_p(dir, 0700) != 0 || lstat(dir, &st) != 0) {
            rg_err("socket directory %s: %s", dir, errno ? strerror(errno) : rg_errmsg());
            free(dir);
            return -1;
        }
    }
    int rc = 0;
    if (!S_ISDIR(st.st_mode)) { rg_err("socket directory %s: not a directory", dir); rc = -1; }
    else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        rg_err("socket directory %s is writable by group or others (mode %03o): choose a directory only "
               "its owner can write (--socket PATH)", dir, (unsigned)(st.st_mode & 0777));
        rc = -1;
    } else if (st.st_uid != geteuid() && st.st_uid != 0) {
        rg_err("socket directory %s belongs to uid %u, not to this user", dir, (unsigned)st.st_uid);
        rc = -1;
    }
    free(dir);
    return rc;
}

/* systemd socket activation: LISTEN_PID is us and LISTEN_FDS >= 1 -> fd 3. */
static int systemd_fd(void) {
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds) return -1;
    char *end;
    long p = strtol(pid, &end, 10);
    if (*end || p != (long)getpid()) return -1;
    long n = strtol(fds, &end, 10);
    if (*end || n < 1) return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    int fd = 3, type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return -2;
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) return -2;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

/* 1 when a live server answers on path, 0 when the socket is stale, -1 on other errors. */
static int socket_live(const char *path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { rg_err("socket: %s", strerror(errno)); return -1; }
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int err = errno;
    close(fd);
    if (rc == 0) return 1;
    if (err == ECONNREFUSED) return 0;
    if (err == EAGAIN) return 1;   /* a live server with a full backlog */
    rg_err("%s: %s", path, strerror(err));
    return -1;
}

int rg_dsock_listen(const char *path, const char *group, int *owned) {
    *owned = 0;
    int sfd = systemd_fd();
    if (sfd == -2) { rg_err("LISTEN_FDS: fd 3 is not a listening stream socket"); return -1; }
    if (sfd >= 0) return sfd;

    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof a.sun_path) { rg_err("socket path %s: too long (at most %zu bytes)", path, sizeof a.sun_path - 1); return -1; }
    memcpy(a.sun_path, path, n + 1);
    gid_t gid = (gid_t)-1;
    if (group) {
        struct group gr, *res = NULL;
        char buf[4096];
        if (getgrnam_r(group, &gr, buf, sizeof buf, &res) != 0 || !res) { rg_err("socket group %s: no such group", group); return -1; }
        gid = gr.gr_gid;
    }
    if (rg_dsock_check_dir(path) != 0) return -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) { rg_err("%s exists and is not a socket; not replacing it", path); return -1; }
        int live = socket_live(path);
        if (live < 0) return -1;
        if (live) { rg_err("another ragd is serving on %s", path); return -1; }
        if (unlink(path) != 0 && errno != ENOENT) { rg_err("stale socket %s: %s", path, strerror(errno)); return -1; }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { rg_err("socket: %s", strerror(errno)); return -1; }
    /* The umask makes the socket 0600 from its first moment (no window between bind and chmod). */
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    int err = errno;
    umask(old);
    if (rc != 0) { rg_err("bind %s: %s", path, strerror(err)); close(fd); return -1; }
    *owned = 1;
    const char *gname = group ? group : "";
    if (group && (chown(path, (uid_t)-1, gid) != 0 || chmod(path, 0660) != 0)) {
        rg_err("socket %s: group %s: %s", a.sun_path, gname, strerror(errno));
        unlink(path);
        close(fd);
        *owned = 0;
        return -1;
    }
    if (listen(fd, 256) != 0) {
        rg_err("listen %s: %s", path, strerror(errno));
        unlink(path);
        close(fd);
        *owned = 0;
        return -1;
    }
    return fd;
}
