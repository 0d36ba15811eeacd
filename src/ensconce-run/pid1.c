/* SPDX-License-Identifier: Apache-2.0 */
/* PID 1 duties: start the service, forward signals, reap every child, return the service's status. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "runtime.h"

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void supervised_set(sigset_t *s)
{
    sigemptyset(s);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaddset(s, forwarded[i]);
    sigaddset(s, SIGCHLD);
}

void ens_run_block_signals(void)
{
    sigset_t s;
    supervised_set(&s);
    sigprocmask(SIG_BLOCK, &s, NULL);
}

/* Child side: everything here must only make system calls (we are a fork of a threaded process). */
static void __attribute__((noreturn)) child_exec(const struct ens_run_exec *x, int errpipe)
{
    sigset_t empty;
    sigemptyset(&empty);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    /* Its own process group in the terminal's foreground (like tini): a Ctrl-C reaches the service
     * once, from the terminal, and not a second time through our forwarding. */
    setpgid(0, 0);
    if (isatty(STDIN_FILENO)) {
        signal(SIGTTOU, SIG_IGN);
        tcsetpgrp(STDIN_FILENO, getpid());
        signal(SIGTTOU, SIG_DFL);
    }
    sigprocmask(SIG_SETMASK, &empty, NULL);
    const char *step = "chdir";
    if (x->pwd && chdir(x->pwd) < 0)
        goto fail;
    if (x->set_user) {
        step = "setgroups";
        if (setgroups(0, NULL) < 0 && errno != EPERM)
            goto fail;
        step = "setgid";
        if (setgid(x->gid) < 0)
            goto fail;
        step = "setuid";
        if (setuid(x->uid) < 0)
            goto fail;
    }
    step = "exec";
    execve(x->exe, x->argv, x->envp);
fail:;
    int e = errno;
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "%s:%d", step, e);
    if (n > 0 && write(errpipe, msg, (size_t)n) < 0) {
        /* nothing more we can do */
    }
    _exit(127);
}

int ens_run_supervise(const struct ens_run_exec *x, int *status, ens_error_t *err)
{
    sigset_t set;
    supervised_set(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    /* Outside PID 1 (tests, `docker run --init`), still adopt orphans so they are reaped. */
    if (getpid() != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        return ens_error_errno(err, "signalfd");
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return ens_error_errno(err, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return ens_error_errno(err, "fork");
    }
    if (pid == 0) {
        close(pipefd[0]);
        child_exec(x, pipefd[1]);
    }
    close(pipefd[1]);
    /* The pipe closes at a successful exec; a message means the service never started. */
    char msg[64] = {0};
    ssize_t n;
    do
        n = read(pipefd[0], msg, sizeof(msg) - 1);
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n > 0) {
        waitpid(pid, NULL, 0);
        char *colon = strchr(msg, ':');
        int e = colon ? atoi(colon + 1) : 0;
        if (colon)
            *colon = '\0';
        return ens_error(err, e, "starting %s: %s: %s", x->exe, msg, strerror(e));
    }

    bool done = false;
    int result = 0;
    while (!done) {
        struct signalfd_siginfo si;
        ssize_t r = read(sfd, &si, sizeof(si));
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)sizeof(si))
            return ens_error_errno(err, "reading signals");
        if (si.ssi_signo != SIGCHLD) {
            /* Forward to the service (not to the group: the service decides for its children). */
            kill(pid, (int)si.ssi_signo);
            continue;
        }
        /* Reap everything that exited, the service and adopted orphans alike. */
        for (;;) {
            int st;
            pid_t w = waitpid(-1, &st, WNOHANG);
            if (w <= 0)
                break;
            if (w == pid) {
                done = true;
                result = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
            }
        }
    }
    *status = result;
    return 0;
}
