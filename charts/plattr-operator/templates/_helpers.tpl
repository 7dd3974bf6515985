{{/* Labels every object carries: the same name and part-of as bases/, plus Helm's. */}}
{{- define "plattr-operator.labels" -}}
app.kubernetes.io/name: plattr-operator
app.kubernetes.io/part-of: plattr
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "plattr-operator.selector" -}}
app.kubernetes.io/name: plattr-operator
{{- end -}}

{{/* The operator's image: by digest when one is given, else by tag (default: appVersion). */}}
{{- define "plattr-operator.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}
