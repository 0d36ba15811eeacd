/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image build DST`: an image from a root directory, or from executables (with their ELF
 * interpreter and shared libraries, resolved by lib/elf) plus files, distroless style. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/cleanup.h"
#include "image/common.h"
#ifdef ENS_HAVE_ELF
#include "elf/elf.h"
#endif

static void usage(FILE *f)
{
    fprintf(f, "Usage: ensconce image build [OPTIONS] DST\n\n"
               "Builds an image and writes it to DST (any transport).  The result is reproducible: sorted\n"
               "entries, mtimes from SOURCE_DATE_EPOCH (or 0), uid/gid from the files, gzip without timestamp.\n\n"
               "Options:\n"
               "  --from=IMAGE          start from this image (default: an empty one)\n"
               "  --root=DIR            add a layer holding DIR as the image root\n"
               "  --exe=PATH[:DEST]     add executable PATH (at DEST, default PATH) with its ELF interpreter and\n"
               "                        shared libraries\n"
               "                        (repeatable; same paths in the image as on this machine)\n"
               "  --file=SRC[:DEST]     add SRC (a directory recursively) at DEST (default SRC) (repeatable)\n"
               "  (--exe and --file entries all go into one layer, after the --root layer)\n"
               IMG_CONFIG_HELP
               IMG_COMMON_HELP
               "  -h, --help            this help\n");
}

struct list {
    const char **src, **dest;
    size_t n;
};

static int list_add(struct list *l, const char *src, const char *dest)
{
    const char **s = realloc(l->src, (l->n + 1) * sizeof(char *));
    if (!s)
        return -1;
    l->src = s;
    const char **d = realloc(l->dest, (l->n + 1) * sizeof(char *));
    if (!d)
        return -1;
    l->dest = d;
    l->src[l->n] = src;
    l->dest[l->n] = dest;
    l->n++;
    return 0;
}

#ifdef ENS_HAVE_ELF
/* An executable given as a symlink (/bin/sh -> dash) needs the link and what it leads to. */
static int add_exe_chain(struct list *l, char **owned, size_t *n_owned, size_t max_owned, const char *exe)
{
    char cur[PATH_MAX];
    snprintf(cur, sizeof(cur), "%s", exe);
    for (int hops = 0; hops < 40; hops++) {
        if (*n_owned >= max_owned)
            return -1;
        char *copy = strdup(cur);
        if (!copy)
            return -1;
        owned[(*n_owned)++] = copy;
        if (list_add(l, copy, NULL) < 0)
            return -1;
        char target[PATH_MAX];
        ssize_t n = readlink(cur, target, sizeof(target) - 1);
        if (n < 0)
            return 0; /* not a symlink: done */
        target[n] = '\0';
        if (target[0] == '/') {
            snprintf(cur, sizeof(cur), "%s", target);
        } else {
            char *slash = strrchr(cur, '/');
            size_t dl = slash ? (size_t)(slash - cur) : 0;
            char next[PATH_MAX];
            if ((size_t)snprintf(next, sizeof(next), "%.*s/%s", (int)dl, cur, target) >= sizeof(next))
                return -1;
            snprintf(cur, sizeof(cur), "%s", next);
        }
    }
    return -1;
}
#endif

int ens_cmd_image_build(int argc, char **argv)
{
    static const struct option opts[] = {
        IMG_COMMON_LONGOPTS,
        IMG_CONFIG_LONGOPTS,
        { "from", required_argument, NULL, OPT_FROM },
        { "root", required_argument, NULL, OPT_ROOT },
        { "exe", required_argument, NULL, OPT_EXE },
        { "file", required_argument, NULL, OPT_FILE },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ens_image_opts o;
    ens_image_opts_init(&o);
    struct img_edits edits = { 0 };
    struct list files = { 0 };
    const char **exes = calloc((size_t)argc + 1, sizeof(char *));
    const char **exe_dest = calloc((size_t)argc + 1, sizeof(char *));
    size_t max_owned = (size_t)argc * 42 + 1;
    char **owned = calloc(max_owned, sizeof(char *));
    size_t n_exes = 0, n_owned = 0;
    const char *from = NULL, *root = NULL;
    ens_image *img = NULL;
    _cleanup_error_ ens_error_t err = NULL;
    int c, ret = 2;
    optind = 1;
    if (!exes || !exe_dest || !owned)
        goto out;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = img_common_opt("image build", c, optarg, &o);
        if (r == 0)
            r = img_edit_opt("image build", c, optarg, &edits, &o);
        if (r == 2)
            goto out;
        if (r == 1)
            continue;
        switch (c) {
        case 'h':
            usage(stdout);
            ret = 0;
            goto out;
        case OPT_FROM:
            from = optarg;
            break;
        case OPT_ROOT:
            root = optarg;
            break;
        case OPT_EXE: {
            /* PATH[:DEST] — DEST places the executable elsewhere in the image (its libraries keep their paths) */
            char *copy = strdup(optarg);
            if (!copy)
                goto out;
            owned[n_owned++] = copy;
            char *colon = strchr(copy, ':');
            exe_dest[n_exes] = NULL;
            if (colon) {
                *colon = '\0';
                exe_dest[n_exes] = colon + 1;
                if (colon[1] != '/') {
                    ens_cli_usage_error("image build", "--exe %s: DEST must be absolute", optarg);
                    goto out;
                }
            }
            exes[n_exes++] = copy;
            break;
        }
        case OPT_FILE: {
            char *copy = strdup(optarg);
            if (!copy)
                goto out;
            owned[n_owned++] = copy;
            char *colon = strchr(copy, ':');
            if (colon)
                *colon++ = '\0';
            if (!*copy || (colon && *colon != '/')) {
                ens_cli_usage_error("image build", "--file wants SRC[:/DEST], not '%s'", optarg);
                goto out;
            }
            if (list_add(&files, copy, colon) < 0)
                goto out;
            break;
        }
        default:
            ens_cli_usage_error("image build", "unknown option");
            goto out;
        }
    }
    if (argc - optind != 1) {
        ens_cli_usage_error("image build", "expected one DST image");
        goto out;
    }
    if (!from && !root && !n_exes && !files.n) {
        ens_cli_usage_error("image build", "nothing to build: give --root, --exe or --file");
        goto out;
    }
    ret = 1;
    if ((from ? ens_image_open(from, &o, &img, &err) : ens_image_new(&o, &img, &err)) < 0)
        goto fail;
    if (root && ens_image_add_layer_dir(img, root, "/", &err) < 0)
        goto fail;
#ifdef ENS_HAVE_ELF
    struct ens_elf_deps *deps = calloc(n_exes + 1, sizeof(*deps));
    for (size_t i = 0; i < n_exes; i++) {
        if (ens_elf_resolve("/", exes[i], &deps[i], &err) < 0) {
            ens_error_wrap(&err, "resolving the libraries of %s", exes[i]);
            for (size_t k = 0; k < i; k++)
                ens_elf_deps_free(&deps[k]);
            free(deps);
            goto fail;
        }
        if (exe_dest[i]) {
            char *real = realpath(exes[i], NULL);
            if (real == NULL || n_owned >= max_owned) {
                free(real);
                ens_error_errno(&err, "%s", exes[i]);
                for (size_t k = 0; k <= i; k++)
                    ens_elf_deps_free(&deps[k]);
                free(deps);
                goto fail;
            }
            owned[n_owned++] = real;
            list_add(&files, real, exe_dest[i]);
        } else if (add_exe_chain(&files, owned, &n_owned, max_owned, exes[i]) < 0) {
            ens_error(&err, 40 /* ELOOP */, "%s: cannot follow its symlinks", exes[i]);
            for (size_t k = 0; k <= i; k++)
                ens_elf_deps_free(&deps[k]);
            free(deps);
            goto fail;
        }
        for (size_t k = 0; k < deps[i].count; k++)
            list_add(&files, deps[i].paths[k], NULL);
    }
    int fr = files.n ? ens_image_add_layer_files(img, files.src, files.dest, files.n, &err) : 0;
    for (size_t k = 0; k < n_exes; k++)
        ens_elf_deps_free(&deps[k]);
    free(deps);
    if (fr < 0)
        goto fail;
#else
    if (n_exes) {
        ens_error(&err, 38 /* ENOSYS */, "--exe needs lib/elf (ELF dependency resolution), not built in yet");
        goto fail;
    }
    if (files.n && ens_image_add_layer_files(img, files.src, files.dest, files.n, &err) < 0)
        goto fail;
#endif
    if (img_apply_edits(img, &edits, &err) < 0 || ens_image_write(img, argv[optind], &o, &err) < 0)
        goto fail;
    char digest[72];
    if (ens_image_manifest_digest(img, digest, &err) < 0)
        goto fail;
    printf("%s\n", digest);
    ret = 0;
    goto out;
fail:
    ret = ens_error_report(&err, "ensconce image build");
out:
    ens_image_free(img);
    img_edits_free(&edits);
    for (size_t i = 0; owned && i < n_owned; i++)
        free(owned[i]);
    free(owned);
    free(exes);
    free(exe_dest);
    free(files.src);
    free(files.dest);
    return ret;
}
