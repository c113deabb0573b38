{{- define "llm-gateway.name" -}}{{ include "llm-common.name" . }}{{- end -}}

{{- define "llm-gateway.fullname" -}}{{ include "llm-common.fullname" . }}{{- end -}}

{{- define "llm-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "llm-gateway.labels" -}}
helm.sh/chart: {{ include "llm-common.chart" . }}
{{ include "llm-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-stack
{{- end -}}

{{/* The dotted key of this chart's values: "gateway." inside llm-stack (its templates then live under
<parent>/charts/), "" when installed alone. Every message names the key as the user writes it. */}}
{{- define "llm-gateway.keyPrefix" -}}
{{- ternary "gateway." "" (contains "/charts/" .Template.BasePath) -}}
{{- end -}}

{{/* The gateway image (checked in llm-gateway.checks). */}}
{{- define "llm-gateway.image" -}}
{{- include "llm-common.image" (include "llm-gateway.imageContext" . | fromYaml) -}}
{{- end -}}

{{- define "llm-gateway.imageContext" -}}
{{- $key := printf "%simage" (include "llm-gateway.keyPrefix" .) -}}
{{- toYaml (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion "key" $key) -}}
{{- end -}}

{{/* The ConfigMap holding gateway.yaml: an existing one (tpl, e.g. written by llm-stack) or ours. */}}
{{- define "llm-gateway.configMapName" -}}
{{- if .Values.existingConfigMap -}}
{{- tpl .Values.existingConfigMap . -}}
{{- else -}}
{{- include "llm-gateway.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* Every problem in the values at once, each naming its dotted key and the fix. */}}
{{- define "llm-gateway.checks" -}}
{{- $key := include "llm-gateway.keyPrefix" . -}}
{{- $problems := include "llm-common.image.problems" (include "llm-gateway.imageContext" . | fromYaml) | fromYamlArray -}}
{{- if not .Values.keys.existingSecret -}}
{{- $problems = append $problems (printf "%skeys.existingSecret: required: create a Secret whose keys.yaml lists {id, sha256, models} per key (hash a key with `llm-gateway hash-key`) and name it here" $key) -}}
{{- end -}}
{{- if and (not .Values.existingConfigMap) (not .Values.config.routes) -}}
{{- $problems = append $problems (printf "%sconfig.routes: empty: list at least one {model, backends: [{url}]} (the llm-stack chart fills this for its models)" $key) -}}
{{- end -}}
{{- if regexMatch "^[a-z]+://[^/]*@" (toString .Values.config.redisUrl) -}}
{{- $problems = append $problems (printf "%sconfig.redisUrl: holds credentials, which would land in a ConfigMap: put the URL in a Secret and name it in %sredis.existingSecret" $key $key) -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\n\nllm-gateway: %d problem(s) in the values:\n  - %s\n" (len $problems) (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
