{{/*
Names of a chart's objects, as every chart of this kind names them: `<release>-<chart>` unless the release
name already holds the chart name, trimmed to the 63 characters of a DNS label. Context: the chart's root.
*/}}

{{- define "llm-common.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llm-common.fullname" -}}
{{- include "llm-common.fullnameFor" (dict "name" .Chart.Name "values" .Values "release" .Release.Name) -}}
{{- end -}}

{{/* The same rule for a chart seen from outside (the parent naming its subchart). Context: dict "name"
<chart name or alias> "values" <that chart's values> "release" <release name> */}}
{{- define "llm-common.fullnameFor" -}}
{{- if .values.fullnameOverride -}}
{{- .values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .name .values.nameOverride -}}
{{- if contains $name .release -}}
{{- .release | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .release $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "llm-common.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}
