{{- define "modelfleet.name" -}}modelfleet{{- end }}

{{- define "modelfleet.fullname" -}}
{{- if contains "modelfleet" .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-modelfleet" .Release.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "modelfleet.labels" -}}
app.kubernetes.io/name: modelfleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "modelfleet.selectorLabels" -}}
app.kubernetes.io/name: modelfleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- /* The metrics Service's own labels, which the ServiceMonitor selects. */}}
{{- define "modelfleet.metricsSelectorLabels" -}}
app.kubernetes.io/name: modelfleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics
{{- end }}
