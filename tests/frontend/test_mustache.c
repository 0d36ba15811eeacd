/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the frontend's Mustache subset (examples/online-boutique/frontend/mustache.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mustache.h"

/* Renders src with the JSON data; returns the output (malloc'd) or NULL with *msg set. */
static char *render(const char *src, const char *json, char **msg)
{
    ens_error_t err = NULL;
    mst_set *set = mst_set_new();
    assert_non_null(set);
    json_t *data = json_loads(json, 0, NULL);
    assert_non_null(data);
    char *out = NULL;
    if (mst_set_add(set, "t", src, strlen(src), &err) < 0 || mst_render(set, "t", data, &out, NULL, &err) < 0) {
        if (msg)
            *msg = strdup(ens_error_msg(err));
        ens_error_release(&err);
        out = NULL;
    }
    json_decref(data);
    mst_set_free(set);
    return out;
}

static void expect(const char *src, const char *json, const char *want)
{
    char *msg = NULL;
    char *out = render(src, json, &msg);
    if (!out)
        fail_msg("render of %s failed: %s", src, msg);
    assert_string_equal(out, want);
    free(out);
}

static void expect_error(const char *src, const char *json, const char *want_in_msg)
{
    char *msg = NULL;
    char *out = render(src, json, &msg);
    if (out)
        fail_msg("%s rendered as %s, expected an error", src, out);
    assert_non_null(msg);
    if (!strstr(msg, want_in_msg))
        fail_msg("error '%s' does not mention '%s'", msg, want_in_msg);
    free(msg);
}

static void test_variables(void **state)
{
    (void)state;
    expect("Hello {{name}}!", "{\"name\":\"World\"}", "Hello World!");
    expect("{{ name }}", "{\"name\":\"x\"}", "x");
    expect("[{{missing}}]", "{}", "[]");
    expect("{{n}} {{r}} {{t}} {{f}} {{z}}", "{\"n\":42,\"r\":1.5,\"t\":true,\"f\":false,\"z\":null}",
           "42 1.5 true false ");
    expect("{{a.b.c}}", "{\"a\":{\"b\":{\"c\":\"deep\"}}}", "deep");
    expect("{{a.x}}", "{\"a\":{\"b\":1}}", "");
    expect("no tags at all", "{}", "no tags at all");
    expect("{{! a comment }}x", "{}", "x");
}

static void test_escaping(void **state)
{
    (void)state;
    expect("{{v}}", "{\"v\":\"<a href='x'>&\\\"</a>\"}", "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    expect("{{{v}}}", "{\"v\":\"<b>\"}", "<b>");
    expect("{{& v}}", "{\"v\":\"<b>\"}", "<b>");
    char *e = mst_html_escape("a<b>&\"'");
    assert_string_equal(e, "a&lt;b&gt;&amp;&quot;&#39;");
    free(e);
}

static void test_sections(void **state)
{
    (void)state;
    expect("{{#list}}<{{name}}>{{/list}}", "{\"list\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", "<a><b>");
    expect("{{#list}}{{.}},{{/list}}", "{\"list\":[1,2,3]}", "1,2,3,");
    expect("{{#list}}x{{/list}}", "{\"list\":[]}", "");
    expect("{{#obj}}{{k}}{{/obj}}", "{\"obj\":{\"k\":\"v\"}}", "v");
    expect("{{#flag}}yes{{/flag}}", "{\"flag\":true}", "yes");
    expect("{{#flag}}yes{{/flag}}", "{\"flag\":false}", "");
    expect("{{#n}}yes{{/n}}", "{\"n\":0}", "");
    expect("{{#s}}[{{s}}]{{/s}}", "{\"s\":\"\"}", "");
    expect("{{#s}}[{{s}}]{{/s}}", "{\"s\":\"x\"}", "[x]");
    expect("{{#missing}}yes{{/missing}}", "{}", "");
    /* Names not in the element are found in outer contexts. */
    expect("{{#items}}{{base}}/{{id}} {{/items}}", "{\"base\":\"/shop\",\"items\":[{\"id\":1},{\"id\":2}]}",
           "/shop/1 /shop/2 ");
    /* Nested sections. */
    expect("{{#a}}{{#b}}{{c}}{{/b}}{{/a}}", "{\"a\":[{\"b\":[{\"c\":1},{\"c\":2}]},{\"b\":[]}]}", "12");
    /* Selected-option idiom used by the templates. */
    expect("{{#cs}}<o{{#sel}} selected{{/sel}}>{{/cs}}", "{\"cs\":[{\"sel\":false},{\"sel\":true}]}",
           "<o><o selected>");
}

static void test_inverted(void **state)
{
    (void)state;
    expect("{{^list}}empty{{/list}}", "{\"list\":[]}", "empty");
    expect("{{^list}}empty{{/list}}", "{\"list\":[1]}", "");
    expect("{{^missing}}none{{/missing}}", "{}", "none");
    expect("{{^f}}no{{/f}}", "{\"f\":false}", "no");
    expect("{{^f}}no{{/f}}", "{\"f\":null}", "no");
}

static void test_partials(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    mst_set *set = mst_set_new();
    const char *page = "{{> head}}<p>{{title}}</p>{{#items}}{{> item}}{{/items}}";
    const char *head = "<h1>{{title}}</h1>";
    const char *item = "<i>{{.}}</i>";
    assert_int_equal(mst_set_add(set, "page", page, strlen(page), &err), 0);
    assert_int_equal(mst_set_add(set, "head", head, strlen(head), &err), 0);
    assert_int_equal(mst_set_add(set, "item", item, strlen(item), &err), 0);
    assert_true(mst_set_add(set, "item", item, strlen(item), &err) < 0); /* duplicate name */
    assert_non_null(strstr(ens_error_msg(err), "twice"));
    ens_error_release(&err);
    json_t *data = json_pack("{s:s, s:[i,i]}", "title", "T&C", "items", 1, 2);
    char *out = NULL;
    assert_int_equal(mst_render(set, "page", data, &out, NULL, &err), 0);
    assert_string_equal(out, "<h1>T&amp;C</h1><p>T&amp;C</p><i>1</i><i>2</i>");
    free(out);

    /* A partial that includes itself stops at the depth limit with an error. */
    const char *loop = "x{{> loop}}";
    assert_int_equal(mst_set_add(set, "loop", loop, strlen(loop), &err), 0);
    assert_true(mst_render(set, "loop", data, &out, NULL, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "nested too deep"));
    ens_error_release(&err);
    /* An unknown template. */
    assert_true(mst_render(set, "nope", data, &out, NULL, &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "nope"));
    ens_error_release(&err);
    json_decref(data);
    mst_set_free(set);

    expect_error("a{{> missing}}", "{}", "missing");
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("abc {{name", "{}", "line 1: unclosed tag");
    expect_error("x\n{{#a}}\n{{/b}}", "{}", "line 3: {{/b}} closes section a");
    expect_error("{{#a}}never closed", "{}", "section a is not closed");
    expect_error("{{/a}}", "{}", "closes no section");
    expect_error("{{=<% %>=}}", "{}", "unsupported tag");
    expect_error("{{bad name}}", "{}", "bad tag name");
    expect_error("{{}}", "{}", "bad tag name");
    ens_error_t err = NULL;
    mst_set *set = mst_set_new();
    assert_true(mst_set_add(set, "nul", "a\0b", 3, &err) < 0);
    ens_error_release(&err);
    /* Sections nested deeper than the limit are refused at parse time. */
    char deep[33 * 10 + 1] = "";
    for (int i = 0; i < 33; i++)
        strcat(deep, "{{#a}}");
    assert_true(mst_set_add(set, "deep", deep, strlen(deep), &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "too deep"));
    ens_error_release(&err);
    mst_set_free(set);
}

static void test_load_dir(void **state)
{
    (void)state;
    ens_error_t err = NULL;
    mst_set *set = mst_set_new();
    const char *dir = getenv("FE_TEMPLATE_DIR");
    assert_non_null(dir);
    assert_int_equal(mst_set_load_dir(set, dir, &err), 0);
    /* Every page of the shop renders from empty data (no missing partials). */
    const char *pages[] = {"home", "product", "cart", "order", "error"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        json_t *d = json_object();
        char *out = NULL;
        if (mst_render(set, pages[i], d, &out, NULL, &err) < 0)
            fail_msg("%s: %s", pages[i], ens_error_msg(err));
        assert_non_null(strstr(out, "</html>"));
        free(out);
        json_decref(d);
    }
    mst_set_free(set);
    set = mst_set_new();
    assert_true(mst_set_load_dir(set, "/nonexistent-dir", &err) < 0);
    assert_non_null(strstr(ens_error_msg(err), "/nonexistent-dir"));
    ens_error_release(&err);
    mst_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables), cmocka_unit_test(test_escaping), cmocka_unit_test(test_sections),
        cmocka_unit_test(test_inverted),  cmocka_unit_test(test_partials), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_load_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
