{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "smarts3.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> unless the release name already contains the chart name. */}}
{{- define "smarts3.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "smarts3.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "smarts3.labels" -}}
helm.sh/chart: {{ include "smarts3.chart" . }}
app.kubernetes.io/name: {{ include "smarts3.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smarts3
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Immutable selector labels; pass (dict "ctx" $ "component" "server"). */}}
{{- define "smarts3.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smarts3.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "smarts3.componentLabels" -}}
{{ include "smarts3.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image reference; pass (dict "ctx" $ "image" .Values.image.server) (or .operator). */}}
{{- define "smarts3.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .ctx.Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "smarts3.declaredSecretName" -}}
{{- default (printf "%s-declared" (include "smarts3.fullname" .)) .Values.declaredConfig.secretName }}
{{- end }}

{{- define "smarts3.serverServiceAccountName" -}}
{{- if .Values.server.serviceAccount.create }}
{{- default (include "smarts3.fullname" .) .Values.server.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.server.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "smarts3.operatorName" -}}
{{- printf "%s-operator" (include "smarts3.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "smarts3.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "smarts3.operatorName" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "smarts3.scheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/* The in-cluster S3 endpoint. */}}
{{- define "smarts3.endpoint" -}}
{{- printf "%s://%s.%s.svc:%d" (include "smarts3.scheme" .) (include "smarts3.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}

{{/* "true" when the server runs more than one pod: one shared ReadWriteMany claim, metadata in PostgreSQL. */}}
{{- define "smarts3.manyReplicas" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}

{{/* The claim every server pod mounts when there are many; one volumeClaimTemplate per pod otherwise. */}}
{{- define "smarts3.sharedClaimName" -}}
{{- default (printf "%s-data" (include "smarts3.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* The CloudNativePG Cluster; its pods, Services and Secrets take this name plus a suffix. */}}
{{- define "smarts3.cnpgClusterName" -}}
{{- printf "%s-pg" (include "smarts3.fullname" .) | trunc 50 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the metadata's postgresql:// URL; empty: embedded SQLite. */}}
{{- define "smarts3.postgresSecretName" -}}
{{- if .Values.metadata.postgres.cloudnativepg.enabled }}
{{- printf "%s-app" (include "smarts3.cnpgClusterName" .) }}
{{- else }}
{{- .Values.metadata.postgres.existingSecret }}
{{- end }}
{{- end }}
