/* SPDX-License-Identifier: Apache-2.0 */
/* `ensconce image`: OCI images without a Docker daemon. */
#include <stddef.h>

#include "cli.h"

int ens_cmd_image_build(int argc, char **argv);
int ens_cmd_image_inspect(int argc, char **argv);
int ens_cmd_image_copy(int argc, char **argv);
int ens_cmd_image_unpack(int argc, char **argv);

int ens_cmd_image(int argc, char **argv)
{
    static const struct ens_subcommand table[] = {
        { "build", ens_cmd_image_build, "build an image from a root directory or executables and files" },
        { "inspect", ens_cmd_image_inspect, "print an image's config, layers and digests as JSON" },
        { "copy", ens_cmd_image_copy, "copy an image between transports (optionally removing paths)" },
        { "unpack", ens_cmd_image_unpack, "unpack an image to a root file system or a runc bundle" },
        { NULL, NULL, NULL },
    };
    return ens_cli_dispatch("image", table, argc, argv);
}
