/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ensconce sconify: one command turns a standard image into a confidential one,
 * uploads its policy and writes what deploys it.  Flags follow the replaced
 * product's sconify_image (docs/sconify.md maps them).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "sconify/sconify.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ensconce sconify --from=IMAGE --to=IMAGE [OPTIONS]\n\n"
            "Converts a container image into a confidential one: the --dir regions are encrypted into the\n"
            "shield and their plaintext removed from every layer; ensconce-run becomes the entrypoint; the\n"
            "policy (command, environment, measurement, shield key and tag) is uploaded to the CAS; a Helm\n"
            "chart, plain manifests and a Compose service are written.  Prints NAMESPACE/SESSION.\n\n"
            "Images (oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, docker://HOST/REPO[:TAG]):\n"
            "  --from=IMAGE               the native image\n"
            "  --to=IMAGE                 the confidential image to write\n"
            "  --push-image               accepted for compatibility: a docker:// --to is pushed anyway\n"
            "  --tls-verify=false         allow registries without valid TLS\n"
            "Policy:\n"
            "  --name=SESSION             session name (default: the --to repository name)\n"
            "  --service-name=NAME        service name in the session (default: service)\n"
            "  --namespace=NS             put the session in namespace NS (config id NS/SESSION/SERVICE)\n"
            "  --create-namespace         create NS at the CAS first when missing\n"
            "  --command=\"CMD ARGS\"       the service's command (default: ENTRYPOINT + CMD)\n"
            "  --binary=PATH              the service binary (default: inferred from the command)\n"
            "  --env=NAME=VALUE           add to the policy's environment (repeatable)\n"
            "  --allow-debug-mode         accept simulation / debug-mode evidence (development, CI)\n"
            "  --allow-tcb-vulnerabilities  tolerate outdated TCBs and ignore advisories\n"
            "File system protection:\n"
            "  --dir=DIR                  encrypt DIR (confidentiality + integrity; repeatable)\n"
            "  --auth-dir=DIR             authenticate DIR (integrity only; repeatable)\n"
            "  --plain=DIR, --plain-file=FILE, --host-path=PATH\n"
            "                             leave unprotected (everything outside --dir/--auth-dir is)\n"
            "  --volume=NAME:PATH         a writable encrypted volume at PATH with rollback protection\n"
            "CAS and LAS:\n"
            "  --cas=ADDR                 the CAS (default: $ENSCONCE_CAS_ADDR, $SCONE_CAS_ADDR, 127.0.0.1)\n"
            "                             as reachable from here and from the containers\n"
            "  --las=ADDR                 the LAS as the containers reach it (default las:18766)\n"
            "  --identity=DIR             client identity directory (default ~/.config/ensconce)\n"
            "  --disable-session-upload   do not upload the policy\n"
            "  --dry-run                  upload nothing; write the policy (it holds the shield key) 0600\n"
            "  --policy-out=FILE          where --dry-run writes the policy (default DIR/NAME.policy.yaml)\n"
            "  --runtime=PATH             the ensconce-run binary to embed\n"
            "  -v, --verbose              print each step\n"
            ENS_K8S_HELP
            "\nCompatibility: --heap, --stack and --no-color are accepted and ignored.\n");
}

static int add(struct str_list *l, const char *v, const char *flag)
{
    if (l->n == SCONIFY_MAX_LIST)
        return ens_cli_usage_error("sconify", "too many %s flags (at most %d)", flag, SCONIFY_MAX_LIST);
    l->v[l->n++] = v;
    return 0;
}

/* The session name a --to reference implies: its last path component without tag or digest. */
static char *default_session(const char *to)
{
    const char *s = strrchr(to, '/');
    const char *colon = strchr(to, ':');
    s = s ? s + 1 : colon ? colon + 1 : to;
    size_t n = strcspn(s, ":@");
    return strndup(s, n);
}

int ens_cmd_sconify(int argc, char **argv)
{
    enum {
        O_FROM = 0x100, O_TO, O_NAME, O_SERVICE, O_NS, O_CREATE_NS, O_CAS, O_LAS, O_DIR, O_AUTH_DIR, O_PLAIN,
        O_PLAIN_FILE, O_HOST_PATH, O_VOLUME, O_COMMAND, O_ENV, O_BINARY, O_IDENTITY, O_PUSH, O_DRY, O_DEBUG,
        O_TCB, O_NO_UPLOAD, O_RUNTIME, O_POLICY_OUT, O_TLS, O_IGNORED,
    };
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},
        {"from", required_argument, 0, O_FROM},
        {"to", required_argument, 0, O_TO},
        {"name", required_argument, 0, O_NAME},
        {"service-name", required_argument, 0, O_SERVICE},
        {"namespace", required_argument, 0, O_NS},
        {"create-namespace", no_argument, 0, O_CREATE_NS},
        {"cas", required_argument, 0, O_CAS},
        {"las", required_argument, 0, O_LAS},
        {"dir", required_argument, 0, O_DIR},
        {"auth-dir", required_argument, 0, O_AUTH_DIR},
        {"plain", required_argument, 0, O_PLAIN},
        {"plain-file", required_argument, 0, O_PLAIN_FILE},
        {"host-path", required_argument, 0, O_HOST_PATH},
        {"volume", required_argument, 0, O_VOLUME},
        {"command", required_argument, 0, O_COMMAND},
        {"env", required_argument, 0, O_ENV},
        {"binary", required_argument, 0, O_BINARY},
        {"identity", required_argument, 0, O_IDENTITY},
        {"push-image", no_argument, 0, O_PUSH},
        {"dry-run", no_argument, 0, O_DRY},
        {"allow-debug-mode", no_argument, 0, O_DEBUG},
        {"allow-tcb-vulnerabilities", no_argument, 0, O_TCB},
        {"disable-session-upload", no_argument, 0, O_NO_UPLOAD},
        {"runtime", required_argument, 0, O_RUNTIME},
        {"policy-out", required_argument, 0, O_POLICY_OUT},
        {"tls-verify", required_argument, 0, O_TLS},
        {"verbose", no_argument, 0, 'v'},
        {"heap", required_argument, 0, O_IGNORED},
        {"stack", required_argument, 0, O_IGNORED},
        {"no-color", no_argument, 0, O_IGNORED},
        ENS_K8S_LONG_OPTIONS,
        {0, 0, 0, 0},
    };
    struct sconify_opts o = {.service = "service"};
    o.k8s.output_dir = ".";
    int c, r = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
        int k = ens_k8s_flag(&o.k8s, c, optarg, "sconify");
        if (k < 0)
            return 2;
        if (k > 0)
            continue;
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'v': o.verbose = true; ens_log_set_level(ENS_LOG_INFO); break;
        case O_FROM: o.from = optarg; break;
        case O_TO: o.to = optarg; break;
        case O_NAME: o.session = optarg; break;
        case O_SERVICE: o.service = optarg; break;
        case O_NS: o.ns = optarg; break;
        case O_CREATE_NS: o.create_namespace = true; break;
        case O_CAS: o.cas = optarg; break;
        case O_LAS: o.las = optarg; break;
        case O_DIR: r = add(&o.dirs, optarg, "--dir"); break;
        case O_AUTH_DIR: r = add(&o.auth_dirs, optarg, "--auth-dir"); break;
        case O_PLAIN: r = add(&o.plain, optarg, "--plain"); break;
        case O_PLAIN_FILE: r = add(&o.plain_files, optarg, "--plain-file"); break;
        case O_HOST_PATH: r = add(&o.host_paths, optarg, "--host-path"); break;
        case O_VOLUME: r = add(&o.volumes, optarg, "--volume"); break;
        case O_COMMAND: o.command = optarg; break;
        case O_ENV: r = add(&o.env, optarg, "--env"); break;
        case O_BINARY: o.binary = optarg; break;
        case O_IDENTITY: o.identity = optarg; break;
        case O_PUSH: o.push_image = true; break;
        case O_DRY: o.dry_run = true; break;
        case O_DEBUG: o.allow_debug = true; break;
        case O_TCB: o.allow_tcb = true; break;
        case O_NO_UPLOAD: o.no_upload = true; break;
        case O_RUNTIME: o.runtime = optarg; break;
        case O_POLICY_OUT: o.policy_out = optarg; break;
        case O_TLS: o.tls_verify = optarg; break;
        case O_IGNORED: break;
        default: return ens_cli_usage_error("sconify", "unknown option");
        }
        if (r)
            return r;
    }
    if (optind != argc)
        return ens_cli_usage_error("sconify", "unexpected argument '%s'", argv[optind]);
    if (o.from == NULL || o.to == NULL)
        return ens_cli_usage_error("sconify", "--from and --to are required");
    if (o.create_namespace && o.ns == NULL)
        return ens_cli_usage_error("sconify", "--create-namespace needs --namespace");
    if (o.tls_verify && strcmp(o.tls_verify, "true") != 0 && strcmp(o.tls_verify, "false") != 0)
        return ens_cli_usage_error("sconify", "--tls-verify takes true or false");
    if (o.identity) {
        struct stat st;
        if (stat(o.identity, &st) < 0 || !S_ISDIR(st.st_mode))
            return ens_cli_usage_error("sconify", "--identity %s: expected the client configuration directory "
                                                  "(identity.key, identity.crt, cas-pins.json)", o.identity);
        setenv("ENSCONCE_CONFIG_DIR", o.identity, 1);
    }
    _cleanup_free_ char *session = o.session ? NULL : default_session(o.to);
    if (session)
        o.session = session;

    /* chart name: the service name if it is a DNS label, else the session name */
    struct ens_deploy_spec *spec = &o.k8s.spec;
    spec->name = strcmp(o.service, "service") != 0 ? o.service : o.session;
    spec->image = o.to;
    spec->cas_addr = o.cas;

    /* Writable volumes are FUSE mounts: their encrypted backing directory is what persists. */
    if (o.volumes.n) {
        if (spec->shield_mode && strcmp(spec->shield_mode, "fuse") != 0)
            return ens_cli_usage_error("sconify", "--volume needs FUSE: drop --shield-mode=%s", spec->shield_mode);
        spec->shield_mode = "fuse";
    }
    for (size_t i = 0; i < o.volumes.n; i++) {
        const char *colon = strchr(o.volumes.v[i], ':');
        if (colon == NULL || colon[1] != '/' || spec->nvolumes == 32)
            return ens_cli_usage_error("sconify", "--volume %s: expected NAME:/PATH", o.volumes.v[i]);
        char *vname = strndup(o.volumes.v[i], (size_t)(colon - o.volumes.v[i]));
        char *backing = NULL;
        if (vname == NULL || asprintf(&backing, "%s/%s", SCONIFY_VOLUME_DIR, vname) < 0)
            return 1;
        o.k8s.volumes[spec->nvolumes].name = vname; /* freed at exit */
        o.k8s.volumes[spec->nvolumes].path = backing;
        spec->volumes = o.k8s.volumes;
        spec->nvolumes++;
    }
    _cleanup_error_ ens_error_t err = NULL;
    /* Check the Kubernetes flags before any work. */
    char config_id[300];
    snprintf(config_id, sizeof(config_id), "%s%s%s/%s", o.ns ? o.ns : "", o.ns ? "/" : "", o.session, o.service);
    spec->config_id = config_id;
    if (ens_deploy_check(spec, &err) < 0) {
        ens_error_report(&err, "ensconce sconify");
        return 2;
    }

    struct sconify_result res = {0};
    if (sconify_convert(&o, &res, &err) < 0) {
        sconify_result_free(&res);
        return ens_error_report(&err, "ensconce sconify");
    }
    ens_step("writing the chart, manifests and Compose service to %s", o.k8s.output_dir);
    _cleanup_free_ char *manifests = NULL, *compose = NULL, *chart_dir = NULL, *mpath = NULL, *cpath = NULL;
    if (ens_deploy_write_chart(spec, o.k8s.output_dir, &err) < 0 ||
        (chart_dir = ens_path_join(o.k8s.output_dir, spec->name)) == NULL ||
        ens_deploy_render(chart_dir, NULL, spec->name, "default", &manifests, &err) < 0 ||
        ens_deploy_compose(spec, &compose, &err) < 0 || asprintf(&mpath, "%s.yaml", chart_dir) < 0 ||
        asprintf(&cpath, "%s.compose.yaml", chart_dir) < 0 ||
        ens_write_file_atomic(mpath, manifests, strlen(manifests), 0644, &err) < 0 ||
        ens_write_file_atomic(cpath, compose, strlen(compose), 0644, &err) < 0) {
        sconify_result_free(&res);
        return ens_error_report(&err, "ensconce sconify");
    }
    if (o.dry_run) {
        _cleanup_free_ char *ppath = NULL;
        if (o.policy_out == NULL && asprintf(&ppath, "%s.policy.yaml", chart_dir) < 0) {
            sconify_result_free(&res);
            return 1;
        }
        const char *dst = o.policy_out ? o.policy_out : ppath;
        if (ens_write_file_atomic(dst, res.session_yaml, strlen(res.session_yaml), 0600, &err) < 0) {
            sconify_result_free(&res);
            return ens_error_report(&err, "ensconce sconify");
        }
        fprintf(stderr, "policy (holds the shield key, mode 0600): %s\n", dst);
    }
    fprintf(stderr, "measurement: %s\n", res.measurement);
    printf("%s%s%s\n", o.ns ? o.ns : "", o.ns ? "/" : "", o.session);
    sconify_result_free(&res);
    return 0;
}
