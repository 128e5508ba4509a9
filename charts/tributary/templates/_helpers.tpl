{{/* Names and labels shared by the templates. */}}

{{/* The release's objects are named after it: "<release>-tributary-operator", or just
"<release>-operator" when the release name already contains "tributary" (63 characters at most). */}}
{{- define "tributary.fullname" -}}
{{- if contains "tributary" .Release.Name -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-tributary-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tributary.serviceAccountName" -}}
{{- default (include "tributary.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Labels that select the operator pods; they never change across upgrades. */}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: tributary
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "tributary.labels" -}}
{{ include "tributary.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tributary.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
