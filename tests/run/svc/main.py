# SPDX-License-Identifier: Apache-2.0
import os, sys
print("ARG=" + sys.argv[1])
print("ENVKEYS=" + ",".join(sorted(os.environ)))
print("GREETING=" + os.environ.get("GREETING", ""))
print("SECRET=" + os.environ.get("SECRET", ""))
print("INJECT=" + open("/etc/app/config.txt").read())
print("DATA=" + open("/app/data.txt").read().strip())
