/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes the frontend's Mustache subset (mustache.h): the input is template
 * text, parsed and rendered against a small fixed jansson context.  A '\0'
 * splits it: before = the template "main", after = a partial "p" (so
 * {{> p}} and {{> main}} recursion are reachable). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mustache.h"

static json_t *ctx;

static const char ctx_json[] =
    "{\"name\": \"<b>Tom & \\\"Jerry\\\"</b>'\", \"n\": 42, \"zero\": 0, \"real\": 1.5, \"t\": true,"
    " \"f\": false, \"nil\": null, \"empty\": \"\", \"none\": [],"
    " \"list\": [{\"id\": \"a\", \"price\": \"$1.00\"}, {\"id\": \"b<\", \"tags\": [\"x\", \"y\"]}, 7, \"s\"],"
    " \"obj\": {\"a\": {\"b\": {\"c\": \"deep\"}}, \"list\": [1, 2]}, \"unicode\": \"\\u20ac\\u00a5\"}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    json_error_t jerr;
    ctx = json_loads(ctx_json, 0, &jerr);
    if (!ctx)
        abort();
    return 0;
}

static void render_one(const mst_set *set, const char *name)
{
    ens_error_t err = NULL;
    char *out = NULL;
    size_t len = 0;
    if (mst_render(set, name, ctx, &out, &len, &err) == 0) {
        if (!out || strlen(out) > len)
            abort(); /* NUL-terminated, length as reported */
        free(out);
    } else if (!ens_error_msg(err)) {
        abort(); /* a failure always says why */
    }
    ens_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    const char *nul = memchr(src, '\0', size);
    size_t mlen = nul ? (size_t)(nul - src) : size;
    mst_set *set = mst_set_new();
    if (!set)
        return 0;
    ens_error_t err = NULL;
    int rm = mst_set_add(set, "main", src, mlen, &err);
    ens_error_release(&err);
    if (nul) {
        const char *ps = nul + 1;
        size_t plen = size - mlen - 1;
        /* A second NUL makes the partial invalid: the parser must say so. */
        int rp = mst_set_add(set, "p", ps, plen, &err);
        if (memchr(ps, '\0', plen) && rp == 0)
            abort();
        ens_error_release(&err);
    }
    if (rm == 0) {
        render_one(set, "main");
        /* Adding a name twice must fail and leave the set usable. */
        if (mst_set_add(set, "main", "x", 1, &err) == 0)
            abort();
        ens_error_release(&err);
        render_one(set, "main");
    }
    render_one(set, "p");

    /* The escaper on the raw text. */
    char *s = strndup(src, mlen);
    if (s) {
        char *e = mst_html_escape(s);
        if (e && (strchr(e, '<') || strchr(e, '>') || strchr(e, '"') || strchr(e, '\'')))
            abort();
        free(e);
        free(s);
    }
    mst_set_free(set);
    return 0;
}
