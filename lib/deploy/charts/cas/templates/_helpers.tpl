{{- define "cas.labels" -}}
app.kubernetes.io/name: ensconce-cas
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
