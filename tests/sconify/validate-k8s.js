// SPDX-License-Identifier: Apache-2.0
// Validates every document of a rendered manifest file against the Kubernetes
// schemas of the kubernetes-models package (installed offline from npm by the test).
const yaml = require("js-yaml");
const fs = require("fs");
const docs = yaml.loadAll(fs.readFileSync(process.argv[2], "utf8")).filter(Boolean);
const map = {
  "apps/v1:Deployment": ["apps/v1", "Deployment"], "apps/v1:StatefulSet": ["apps/v1", "StatefulSet"],
  "apps/v1:DaemonSet": ["apps/v1", "DaemonSet"], "batch/v1:Job": ["batch/v1", "Job"],
  "v1:Service": ["v1", "Service"], "v1:PersistentVolumeClaim": ["v1", "PersistentVolumeClaim"],
};
let bad = 0;
for (const d of docs) {
  const key = `${d.apiVersion}:${d.kind}`;
  const m = map[key];
  if (!m) { console.log(`unknown kind ${key}`); bad++; continue; }
  const mod = require(`kubernetes-models/${m[0]}/${m[1]}`);
  try { new mod[m[1]](d).validate(); console.log(`valid ${key} ${d.metadata.name}`); }
  catch (e) { console.log(`INVALID ${key} ${d.metadata && d.metadata.name}: ${e.message}`); bad++; }
}
process.exit(bad ? 1 : 0);
