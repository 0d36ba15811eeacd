/* SPDX-License-Identifier: Apache-2.0 */
/* The same checks as main.py / main.js, for native (glibc or musl) services. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void file(const char *tag, const char *path)
{
    char buf[4096] = {0};
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    printf("%s=%s\n", tag, f ? buf : "(missing)");
}

int main(int argc, char **argv)
{
    printf("ARG=%s\n", argc > 1 ? argv[1] : "");
    char *keys[256];
    size_t n = 0;
    for (char **e = environ; *e && n < 256; e++)
        keys[n++] = strndup(*e, strcspn(*e, "="));
    qsort(keys, n, sizeof(char *), cmp);
    printf("ENVKEYS=");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? "," : "", keys[i]);
    printf("\nGREETING=%s\nSECRET=%s\n", getenv("GREETING") ? getenv("GREETING") : "",
           getenv("SECRET") ? getenv("SECRET") : "");
    file("INJECT", "/etc/app/config.txt");
    file("DATA", "/app/data.txt");
    return 0;
}
