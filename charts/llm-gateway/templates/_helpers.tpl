{{- define "llm-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llm-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "llm-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "llm-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "llm-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-stack
{{- end -}}

{{- define "llm-gateway.image" -}}
{{- $img := .Values.image -}}
{{- $tag := toString (default .Chart.AppVersion $img.tag) -}}
{{- if eq $tag "latest" -}}
{{- fail "gateway image.tag: `latest` is not allowed (pods would run whatever the registry holds that day): pin a version such as image.tag: \"0.1.0\" or set image.digest" -}}
{{- end -}}
{{- $repo := ternary (printf "%s/%s" $img.registry $img.repository) $img.repository (ne $img.registry "") -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding gateway.yaml: an existing one (tpl, e.g. written by llm-stack) or ours. */}}
{{- define "llm-gateway.configMapName" -}}
{{- if .Values.existingConfigMap -}}
{{- tpl .Values.existingConfigMap . -}}
{{- else -}}
{{- include "llm-gateway.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* gateway.yaml from values; the keys file path matches the Secret mount in the Deployment. */}}
{{- define "llm-gateway.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $_ := set $cfg "keysFile" "/etc/llm-gateway/keys/keys.yaml" -}}
{{- if not $cfg.redisUrl }}{{ $_ := unset $cfg "redisUrl" }}{{ end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{- define "llm-gateway.checks" -}}
{{- if not .Values.keys.existingSecret -}}
{{- fail "gateway keys.existingSecret: required: create a Secret whose keys.yaml lists {id, sha256, models} per key (hash a key with `llm-gateway hash-key`) and name it here" -}}
{{- end -}}
{{- if and (not .Values.existingConfigMap) (not .Values.config.routes) -}}
{{- fail "gateway config.routes: empty: list at least one {model, backends: [{url}]} (the llm-stack chart fills this for its models)" -}}
{{- end -}}
{{- end -}}
