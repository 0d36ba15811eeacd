/* SPDX-License-Identifier: Apache-2.0 */
/* Transport strings and Docker references, as skopeo and containers/image spell them. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"
#include "crypto/digest.h"
#include "image/internal.h"

void image_ref_clear(struct image_ref *r)
{
    free(r->path);
    free(r->tag);
    free(r->host);
    free(r->repo);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

bool tag_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return false;
    if (!(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
            return false;
    return true;
}

/* One path component of a repository: [a-z0-9]+ joined by '.', '_', '__' or '-'+. */
static bool repo_component_valid(const char *s, size_t n)
{
    if (n == 0 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return false;
    if (!(islower((unsigned char)s[n - 1]) || isdigit((unsigned char)s[n - 1])))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (islower((unsigned char)c) || isdigit((unsigned char)c))
            continue;
        if (c == '.' || c == '_' || c == '-') {
            if (c == '.' && (s[i + 1] == '.' || s[i + 1] == '_' || s[i + 1] == '-'))
                return false;
            continue;
        }
        return false;
    }
    return true;
}

static bool repo_valid(const char *repo)
{
    if (strlen(repo) > 255)
        return false;
    const char *p = repo;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!repo_component_valid(p, n))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool host_valid(const char *h)
{
    if (*h == '\0' || strlen(h) > 255)
        return false;
    for (const char *p = h; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == ':' || *p == '[' || *p == ']'))
            return false;
    return true;
}

int docker_ref_parse(const char *s, struct image_ref *r, ens_error_t *err)
{
    if (strncmp(s, "//", 2) == 0)
        s += 2;
    _cleanup_free_ char *name = strdup(s);
    if (!name)
        return ens_error(err, ENOMEM, "out of memory");
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        if (!ens_digest_valid(at + 1))
            return ens_error(err, EINVAL, "reference '%s': invalid digest '%s' (want sha256:<64 hex>)", s, at + 1);
        r->digest = strdup(at + 1);
    }
    /* A tag is after the last ':' that follows the last '/'. */
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return ens_error(err, EINVAL, "reference '%s': invalid tag '%s'", s, colon + 1);
        if (!r->digest)
            r->tag = strdup(colon + 1);
    } else if (!r->digest) {
        r->tag = strdup("latest");
    }
    char *first = strchr(name, '/');
    const char *repo;
    if (first && (memchr(name, '.', (size_t)(first - name)) || memchr(name, ':', (size_t)(first - name)) ||
                  strncmp(name, "localhost/", 10) == 0)) {
        *first = '\0';
        r->host = strdup(name);
        repo = first + 1;
        if (!host_valid(r->host))
            return ens_error(err, EINVAL, "reference '%s': invalid registry host '%s'", s, r->host);
    } else {
        r->host = strdup("docker.io");
        repo = name;
    }
    if (strcmp(r->host, "docker.io") == 0 && !strchr(repo, '/')) {
        if (asprintf(&r->repo, "library/%s", repo) < 0)
            r->repo = NULL;
    } else {
        r->repo = strdup(repo);
    }
    if (!r->host || !r->repo || (!r->tag && !r->digest))
        return ens_error(err, ENOMEM, "out of memory");
    if (!repo_valid(r->repo))
        return ens_error(err, EINVAL, "reference '%s': invalid repository name '%s'", s, r->repo);
    r->transport = T_DOCKER;
    return 0;
}

int image_ref_parse(const char *s, struct image_ref *r, ens_error_t *err)
{
    memset(r, 0, sizeof(*r));
    static const struct { const char *prefix; enum ens_transport t; } tab[] = {
        { "oci:", T_OCI },
        { "oci-archive:", T_OCI_ARCHIVE },
        { "docker-archive:", T_DOCKER_ARCHIVE },
        { "docker://", T_DOCKER },
    };
    for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
        size_t n = strlen(tab[i].prefix);
        if (strncmp(s, tab[i].prefix, n) != 0)
            continue;
        const char *rest = s + n;
        if (tab[i].t == T_DOCKER) {
            if (docker_ref_parse(rest, r, err) < 0) {
                image_ref_clear(r);
                return -1;
            }
            return 0;
        }
        r->transport = tab[i].t;
        if (*rest == '\0') {
            image_ref_clear(r);
            return ens_error(err, EINVAL, "image '%s': missing path after '%s'", s, tab[i].prefix);
        }
        const char *colon = strchr(rest, ':');
        r->path = colon ? strndup(rest, (size_t)(colon - rest)) : strdup(rest);
        if (colon) {
            r->tag = strdup(colon + 1);
            if (r->tag && r->transport == T_DOCKER_ARCHIVE) {
                /* docker-archive's suffix is a Docker reference name:tag (or @index). */
                if (*r->tag == '\0') {
                    image_ref_clear(r);
                    return ens_error(err, EINVAL, "image '%s': empty reference after ':'", s);
                }
            } else if (r->tag && !tag_valid(r->tag)) {
                ens_error(err, EINVAL, "image '%s': invalid tag '%s'", s, r->tag);
                image_ref_clear(r);
                return -1;
            }
        }
        if (!r->path || (colon && !r->tag)) {
            image_ref_clear(r);
            return ens_error(err, ENOMEM, "out of memory");
        }
        if (*r->path == '\0') {
            image_ref_clear(r);
            return ens_error(err, EINVAL, "image '%s': empty path", s);
        }
        return 0;
    }
    return ens_error(err, EINVAL,
                     "image '%s': unknown transport (use oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE "
                     "or docker://HOST/REPO[:TAG|@DIGEST])", s);
}

char *path_clean(const char *in, bool *escapes)
{
    *escapes = false;
    size_t n = strlen(in);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (o == 0) {
                *escapes = true;
                free(out);
                return NULL;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    out[o] = '\0';
    return out;
}
