/* SPDX-License-Identifier: Apache-2.0 */
/* The Helm template subset: Go text/template semantics on the constructs our charts use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deploy/deploy.h"
#include "deploy/gotmpl.h"

static char *render(const char *tmpl, const char *values_json, ens_error_t *err)
{
    ens_gotmpl *t = ens_gotmpl_new();
    json_t *data = json_loads(values_json, 0, NULL);
    char *out = NULL;
    if (ens_gotmpl_add(t, "t", tmpl, err) == 0)
        ens_gotmpl_render(t, "t", data, &out, err);
    json_decref(data);
    ens_gotmpl_free(t);
    return out;
}

static void expect(const char *tmpl, const char *values, const char *want)
{
    ens_error_t err = NULL;
    char *got = render(tmpl, values, &err);
    if (got == NULL)
        fail_msg("render of %s failed: %s", tmpl, ens_error_msg(err));
    assert_string_equal(got, want);
    free(got);
}

static void expect_error(const char *tmpl, const char *values, const char *needle)
{
    ens_error_t err = NULL;
    char *got = render(tmpl, values, &err);
    assert_null(got);
    assert_non_null(err);
    if (strstr(ens_error_msg(err), needle) == NULL)
        fail_msg("error '%s' does not mention '%s'", ens_error_msg(err), needle);
    ens_error_release(&err);
}

static void fields_and_printing(void **state)
{
    (void)state;
    expect("a={{ .a }} b={{ .x.y }} n={{ .n }} r={{ .r }} t={{ .t }} missing=[{{ .nope.deeper }}]",
           "{\"a\":\"s\",\"x\":{\"y\":2},\"n\":7,\"r\":1.5,\"t\":true}", "a=s b=2 n=7 r=1.5 t=true missing=[]");
}

static void trim_markers(void **state)
{
    (void)state;
    expect("a  \n  {{- .v -}}  \n  b", "{\"v\":1}", "a1b");
    expect("a {{ .v }} b", "{\"v\":1}", "a 1 b");
    expect("x{{/* a comment */}}y", "{}", "xy");
}

static void conditionals(void **state)
{
    (void)state;
    const char *t = "{{ if eq .k \"a\" }}A{{ else if eq .k \"b\" }}B{{ else }}C{{ end }}";
    expect(t, "{\"k\":\"a\"}", "A");
    expect(t, "{\"k\":\"b\"}", "B");
    expect(t, "{\"k\":\"z\"}", "C");
    /* Go truthiness: empty string, 0, empty list/map, missing are false */
    expect("{{ if .s }}1{{ end }}{{ if .z }}2{{ end }}{{ if .l }}3{{ end }}{{ if .m }}4{{ end }}{{ if .q }}5{{ end }}",
           "{\"s\":\"\",\"z\":0,\"l\":[],\"m\":{}}", "");
    expect("{{ if and .a (not .b) }}yes{{ end }}", "{\"a\":1,\"b\":false}", "yes");
    expect("{{ or .a .b }}", "{\"a\":\"\",\"b\":\"x\"}", "x");
    expect("{{ if ne .n 3 }}ne{{ end }}{{ if lt .n 5 }}lt{{ end }}", "{\"n\":4}", "nelt");
}

static void with_and_range(void **state)
{
    (void)state;
    expect("{{ with .o }}{{ .k }}{{ else }}none{{ end }}", "{\"o\":{\"k\":\"v\"}}", "v");
    expect("{{ with .o }}{{ .k }}{{ else }}none{{ end }}", "{}", "none");
    expect("{{ range .l }}[{{ . }}]{{ end }}", "{\"l\":[1,2,3]}", "[1][2][3]");
    /* maps iterate in sorted key order */
    expect("{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", "{\"m\":{\"b\":2,\"a\":1}}", "a=1;b=2;");
    expect("{{ range $i, $e := .l }}{{ $i }}:{{ $e.n }} {{ end }}", "{\"l\":[{\"n\":\"x\"},{\"n\":\"y\"}]}",
           "0:x 1:y ");
    expect("{{ range .l }}x{{ else }}empty{{ end }}", "{\"l\":[]}", "empty");
    /* $ is the root inside range */
    expect("{{ range .l }}{{ $.p }}{{ . }}{{ end }}", "{\"p\":\"-\",\"l\":[1,2]}", "-1-2");
}

static void functions(void **state)
{
    (void)state;
    expect("{{ .a | default \"d\" }} {{ .b | default \"d\" }}", "{\"a\":\"x\"}", "x d");
    expect("{{ .s | quote }} {{ .n | quote }} {{ squote .s }}", "{\"s\":\"a\\\"b\",\"n\":3}", "\"a\\\"b\" \"3\" 'a\"b'");
    expect("{{ printf \"%s-%d-%v\" .a .b .c }}", "{\"a\":\"x\",\"b\":2,\"c\":true}", "x-2-true");
    expect("{{ .s | upper }} {{ .s | lower }} {{ \"abcdef\" | trunc 3 }} {{ \"ab-\" | trimSuffix \"-\" }}",
           "{\"s\":\"Mx\"}", "MX mx abc ab");
    expect("{{ \"  x \" | trim }}|", "{}", "x|");
    expect("a:{{ toYaml .m | nindent 2 }}", "{\"m\":{\"k\":\"v\",\"l\":[1,\"2\"]}}", "a:\n  k: v\n  l:\n  - 1\n  - \"2\"");
    expect("{{ \"a\\nb\" | indent 2 }}", "{}", "  a\n  b");
    expect("{{ hasKey .m \"k\" }} {{ hasKey .m \"z\" }} {{ empty .l }}", "{\"m\":{\"k\":1},\"l\":[]}", "true false true");
}

static void define_include_template(void **state)
{
    (void)state;
    expect("{{ define \"x\" }}<{{ .v }}>{{ end }}{{ include \"x\" . }}{{ template \"x\" .o }}",
           "{\"v\":1,\"o\":{\"v\":2}}", "<1><2>");
    expect("{{- define \"l\" -}}\na: 1\nb: 2\n{{- end -}}\nm:{{ include \"l\" . | nindent 2 }}", "{}",
           "m:\n  a: 1\n  b: 2");
    expect("{{ $x := .v }}{{ $x }}{{ $x }}", "{\"v\":\"q\"}", "qq");
}

static void errors_name_template_and_line(void **state)
{
    (void)state;
    expect_error("a\n{{ .v ", "{}", "t:2: unclosed action");
    expect_error("{{ if .v }}x", "{}", "missing {{ end }}");
    expect_error("\n\n{{ lookup \"v1\" \"Secret\" \"\" \"\" }}", "{}", "t:3: function \"lookup\" is outside");
    expect_error("{{ include \"nope\" . }}", "{}", "no template named \"nope\"");
    expect_error("{{ required \"image is required\" .image }}", "{}", "image is required");
    expect_error("{{ end }}", "{}", "unexpected {{ end }}");
    expect_error("{{ $undefined }}", "{}", "undefined variable $undefined");
    expect_error("{{ define \"r\" }}{{ include \"r\" . }}{{ end }}{{ include \"r\" . }}", "{}", "nested too deeply");
}

static void yaml_round_trip(void **state)
{
    (void)state;
    const char *j = "{\"s\":\"8080\",\"b\":\"true\",\"e\":\"\",\"n\":8080,\"t\":true,\"z\":null,\"c\":\"a: b\","
                    "\"l\":[{\"k\":\"v\"}],\"u\":\"caf\\u00e9\"}";
    json_t *in = json_loads(j, 0, NULL);
    ens_error_t err = NULL;
    char *y = ens_json_to_yaml(in, &err);
    assert_non_null(y);
    json_t *back = ens_yaml_to_json(y, strlen(y), "test", &err);
    assert_non_null(back);
    if (!json_equal(in, back))
        fail_msg("YAML round trip changed the value:\n%s", y);
    free(y);
    json_decref(in);
    json_decref(back);
    assert_null(ens_yaml_to_json("a: [1, 2", 8, "bad.yaml", &err));
    assert_non_null(strstr(ens_error_msg(err), "bad.yaml:"));
    assert_non_null(strstr(ens_error_msg(err), "flow sequence"));
    ens_error_release(&err);
}

static void helm_set(void **state)
{
    (void)state;
    json_t *v = json_object();
    ens_error_t err = NULL;
    assert_int_equal(ens_deploy_set(v, "a.b.c=3", &err), 0);
    assert_int_equal(ens_deploy_set(v, "a.s=text", &err), 0);
    assert_int_equal(ens_deploy_set(v, "a.t=true", &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(v, "a"), "b"), "c")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "a"), "s")), "text");
    assert_true(json_is_true(json_object_get(json_object_get(v, "a"), "t")));
    assert_int_equal(ens_deploy_set(v, "novalue", &err), -1);
    ens_error_release(&err);
    assert_int_equal(ens_deploy_set(v, "a[0]=1", &err), -1);
    ens_error_release(&err);
    json_decref(v);
}

static void spec_validation(void **state)
{
    (void)state;
    struct ens_deploy_spec s = {.name = "Bad_Name", .image = "i", .config_id = "s/x"};
    ens_error_t err = NULL;
    assert_int_equal(ens_deploy_check(&s, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "Bad_Name"));
    ens_error_release(&err);
    s.name = "ok";
    s.device_plugin = "nvidia";
    assert_int_equal(ens_deploy_check(&s, &err), -1);
    assert_non_null(strstr(ens_error_msg(err), "nvidia"));
    ens_error_release(&err);
    s.device_plugin = "azure";
    s.config_id = "noslash";
    assert_int_equal(ens_deploy_check(&s, &err), -1);
    ens_error_release(&err);
    s.config_id = "a/b";
    assert_int_equal(ens_deploy_check(&s, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields_and_printing), cmocka_unit_test(trim_markers),
        cmocka_unit_test(conditionals),        cmocka_unit_test(with_and_range),
        cmocka_unit_test(functions),           cmocka_unit_test(define_include_template),
        cmocka_unit_test(errors_name_template_and_line), cmocka_unit_test(yaml_round_trip),
        cmocka_unit_test(helm_set),            cmocka_unit_test(spec_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
