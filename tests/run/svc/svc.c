/* SPDX-License-Identifier: Apache-2.0 */
/* A test service: shows what it received (arguments, environment, files, identity) and behaves
 * as asked by its first argument, for the PID 1 tests. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_sig(int s) { got = s; }

static void cat(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        printf("file %s: missing\n", path);
        return;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    printf("file %s: %s\n", path, buf);
}

int main(int argc, char **argv, char **envp)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "show";
    if (strcmp(mode, "show") == 0) {
        for (int i = 0; i < argc; i++)
            printf("arg %d: %s\n", i, argv[i]);
        for (char **e = envp; *e; e++)
            printf("env %s\n", *e);
        char cwd[256];
        printf("cwd %s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
        printf("uid %d gid %d ppid %d\n", (int)getuid(), (int)getgid(), (int)getppid());
        for (int i = 2; i < argc; i++)
            if (argv[i][0] == '/')
                cat(argv[i]);
        return 0;
    }
    if (strcmp(mode, "exit") == 0)
        return atoi(argv[2]);
    if (strcmp(mode, "trap") == 0) { /* exit 40+signal on a forwarded signal */
        int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            signal(sigs[i], on_sig);
        printf("ready\n");
        while (!got)
            pause();
        printf("got %d\n", (int)got);
        return 40 + (int)got;
    }
    if (strcmp(mode, "die") == 0) { /* killed by the default action of a forwarded signal */
        printf("ready\n");
        for (;;)
            pause();
    }
    if (strcmp(mode, "orphans") == 0) { /* leaves N orphans that exit at once, then waits */
        int n = atoi(argv[2]);
        for (int i = 0; i < n; i++) {
            pid_t p = fork();
            if (p == 0) {
                if (fork() == 0)
                    _exit(0); /* the grandchild becomes an orphan of PID 1 and exits */
                _exit(0);
            }
            waitpid(p, NULL, 0);
        }
        printf("ready\n");
        signal(SIGTERM, on_sig);
        while (!got)
            pause();
        return 0;
    }
    if (strcmp(mode, "append-on-term") == 0 && argc > 3) { /* waits for SIGTERM, then appends */
        signal(SIGTERM, on_sig);
        printf("ready\n");
        while (!got)
            pause();
        FILE *f = fopen(argv[2], "a");
        if (f == NULL || fprintf(f, "%s\n", argv[3]) < 0 || fclose(f) != 0)
            return 3;
        return 0;
    }
    if (strcmp(mode, "append") == 0 && argc > 3) { /* appends a line to a file and shows the file */
        FILE *f = fopen(argv[2], "a");
        if (f == NULL || fprintf(f, "%s\n", argv[3]) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0 ||
            fclose(f) != 0) {
            perror(argv[2]);
            return 3;
        }
        for (int i = 2; i < argc; i++)
            if (i != 3)
                cat(argv[i]);
        return 0;
    }
    return 2;
}
