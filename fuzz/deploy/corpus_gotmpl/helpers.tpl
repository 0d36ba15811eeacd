{{/* Names and labels shared by every template of this chart. */}}
{{- define "svc.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "svc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "svc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "svc.labels" -}}
{{ include "svc.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ensconce
{{- end -}}

{{/* Device resources for the chosen device plugin (useSGXDevPlugin). */}}
{{- define "svc.deviceResources" -}}
{{- if eq .Values.useSGXDevPlugin "scone" }}
sgx.k8s.io/sgx: 1
{{- else if eq .Values.useSGXDevPlugin "azure" }}
kubernetes.azure.com/sgx_epc_mem_in_MiB: {{ .Values.sgxEpcMemMiB }}
{{- else if eq .Values.useSGXDevPlugin "intel" }}
sgx.intel.com/epc: {{ printf "%dMi" .Values.sgxEpcMemMiB | quote }}
sgx.intel.com/enclave: 1
sgx.intel.com/provision: 1
{{- end }}
{{- end -}}

{{/* The pod template: one container running ensconce-run as PID 1. */}}
{{- define "svc.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if eq .Values.workloadType "job" }}
restartPolicy: OnFailure
{{- end }}
securityContext:
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: {{ include "svc.name" . }}
    image: {{ .Values.image | quote }}
    imagePullPolicy: {{ .Values.imagePullPolicy }}
    env:
      - name: HOST_IP
        valueFrom:
          fieldRef:
            fieldPath: status.hostIP
      - name: ENSCONCE_CONFIG_ID
        value: {{ .Values.ensconce.configId | quote }}
      - name: ENSCONCE_CAS_ADDR
        value: {{ .Values.ensconce.casAddr | quote }}
      - name: ENSCONCE_LAS_ADDR
        value: {{ printf "$(HOST_IP):%v" .Values.ensconce.lasPort | quote }}
      {{- with .Values.extraEnvVars }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with .Values.service.ports }}
    ports:
      {{- range . }}
      - name: {{ .name }}
        containerPort: {{ .targetPort }}
        protocol: TCP
      {{- end }}
    {{- end }}
    {{- with .Values.probes.liveness }}
    livenessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.probes.readiness }}
    readinessProbe:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- $dev := include "svc.deviceResources" . | trim }}
    {{- if or .Values.resources.requests .Values.resources.limits $dev }}
    resources:
      {{- with .Values.resources.requests }}
      requests:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if or .Values.resources.limits $dev }}
      limits:
        {{- with .Values.resources.limits }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- $dev | nindent 8 }}
      {{- end }}
    {{- end }}
    securityContext:
      {{- if eq .Values.ensconce.shieldMode "fuse" }}
      {{- /* FUSE needs /dev/fuse and the right to mount: the least that works */}}
      allowPrivilegeEscalation: false
      capabilities:
        drop: ["ALL"]
        add: ["SYS_ADMIN", "SETUID", "SETGID"]
      {{- else if eq .Values.useSGXDevPlugin "disabled" }}
      privileged: true
      {{- else }}
      {{- /* memory mode: the shield is decrypted into a memory-backed emptyDir; no privileges */}}
      allowPrivilegeEscalation: false
      capabilities:
        drop: ["ALL"]
        add: ["SETUID", "SETGID"]
      {{- end }}
    volumeMounts:
      - name: ensconce-mem
        mountPath: /.ensconce/mem
      {{- if eq .Values.ensconce.shieldMode "fuse" }}
      - name: dev-fuse
        mountPath: /dev/fuse
      {{- end }}
      {{- if eq .Values.useSGXDevPlugin "disabled" }}
      - name: dev-sgx
        mountPath: /dev/sgx
      {{- end }}
      {{- range .Values.volumes }}
      - name: {{ .name }}
        mountPath: {{ .mountPath }}
      {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: ensconce-mem
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.ensconce.memorySize }}
  {{- if eq .Values.ensconce.shieldMode "fuse" }}
  - name: dev-fuse
    hostPath:
      path: /dev/fuse
      type: CharDevice
  {{- end }}
  {{- if eq .Values.useSGXDevPlugin "disabled" }}
  - name: dev-sgx
    hostPath:
      path: /dev/sgx
      type: Directory
  {{- end }}
  {{- if ne .Values.workloadType "statefulset" }}
  {{- range .Values.volumes }}
  - name: {{ .name }}
    {{- if .claimName }}
    persistentVolumeClaim:
      claimName: {{ .claimName }}
    {{- else }}
    emptyDir: {}
    {{- end }}
  {{- end }}
  {{- end }}
{{- end -}}
